/**
 * Keep-alive TCP connections to one instance, reused most-recent-first (no Nagle). A connection
 * serves one request at a time; its listeners are attached once and hand every event to the
 * request that holds it. The scheduler bounds what is in flight per instance, so the pool does
 * not queue: a request takes an idle connection or opens one.
 */
import net from 'node:net';

/** What a request using a connection is told. */
export interface ConnectionUser {
  onData(chunk: Buffer): void;
  /** The server ended or the socket failed; `error` is null for a plain end or close. */
  onClosed(error: Error | null): void;
}

export class Connection {
  user: ConnectionUser | null = null;
  /** Served a request before: a failure before its first byte may be a close racing our write. */
  reused = false;

  constructor(
    readonly socket: net.Socket,
    private readonly pool: ConnectionPool,
  ) {
    socket.on('data', (chunk: Buffer) => {
      if (this.user) this.user.onData(chunk);
      // Bytes nobody asked for: the connection is out of step; drop it.
      else socket.destroy();
    });
    socket.on('end', () => this.closed(null));
    socket.on('error', (error: Error) => this.closed(error));
    socket.on('close', () => this.closed(null));
    socket.on('timeout', () => {
      if (!this.user) socket.destroy();
    });
  }

  private closed(error: Error | null): void {
    this.pool.drop(this);
    const user = this.user;
    this.user = null;
    user?.onClosed(error);
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

export class ConnectionPool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    /** Idle connections close after this (before the server's own keep-alive closes them under us). */
    private readonly idleMs: number,
  ) {}

  /** An idle connection, or a new one (writes before it connects are buffered by the socket). */
  take(user: ConnectionUser, fresh = false): Connection {
    if (this.closed) throw new Error('the connection pool is closed');
    let connection = fresh ? undefined : this.idle.pop();
    // Closed by its idle timeout (or the server) and not yet told by its 'close' event.
    while (connection?.socket.destroyed || connection?.socket.readableEnded) connection = this.idle.pop();
    if (connection) {
      connection.socket.setTimeout(0);
      connection.socket.ref();
    } else {
      connection = new Connection(net.connect({ host: this.host, port: this.port, noDelay: true }), this);
      this.all.add(connection);
    }
    connection.user = user;
    return connection;
  }

  /** A request is done with its connection; `reusable` = its answer was read whole and keep-alive. */
  give(connection: Connection, reusable: boolean): void {
    connection.user = null;
    if (!reusable || this.closed || connection.socket.destroyed) {
      connection.socket.destroy();
      return;
    }
    connection.reused = true;
    connection.socket.setTimeout(this.idleMs);
    // An idle connection does not keep the process alive.
    connection.socket.unref();
    this.idle.push(connection);
  }

  drop(connection: Connection): void {
    this.all.delete(connection);
    const i = this.idle.indexOf(connection);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Every connection closed at once, busy or not (their requests fail). */
  destroy(): void {
    this.closed = true;
    for (const connection of [...this.all]) connection.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }
}
