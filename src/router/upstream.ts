/**
 * Connections to the instances: one keep-alive pool per instance (no Nagle, no compression), an
 * HTTP/1.1 exchange per request written in one go and parsed as it arrives. Answers go straight
 * to one consumer, with backpressure both ways; a chunked answer can be handed on undecoded
 * (`BodySink.raw`). Nothing here queues or retries, except a request whose reused connection
 * turned out closed before it answered (a keep-alive close racing our write), sent again once on
 * a new connection.
 *
 * Why not undici (which this used before): a streamed token went through its parser, its
 * handler chain and then Node's chunked framing again; passing the chunk on as received took the
 * router's CPU per token from ~5 to ~2 µs and per small request ~30 % lower (bench/README.md,
 * section router). The upstream is always llama-server on loopback, HTTP/1.1, no TLS, no
 * redirects, no compression: the client needed is small.
 */
import { RouterError } from './types.js';
import { ConnectionPool, type Connection, type ConnectionUser } from './upstream-pool.js';
import { Framing, HEADER_NAME, HEADER_VALUE, ParseError, ResponseParser, type ResponseEvents, type ResponseHead } from './http1-response-parser.js';

export interface UpstreamTarget {
  name: string;
  host: string;
  port: number;
  /** The instance's own key (LLAMA_API_KEY); sent upstream, never logged. */
  apiKey: string | undefined;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: UpstreamBody;
}

/** Where an answer's bytes go. */
export interface BodySink {
  /** One chunk; false = the reader is full: the upstream read pauses until `body.resume()`. */
  data(chunk: Buffer): boolean;
  /**
   * Given, a chunked answer comes here undecoded instead of to `data`: whole chunks with their
   * framing (a chunk too large to hold re-framed piece by piece: `RAW_HOLD_MAX`), never the last
   * chunk (the consumer writes its own). Same return as `data`.
   */
  raw?(chunk: Buffer): boolean;
  /** With `raw`: how much of one chunk spanning reads is held so that it still comes whole (default `RAW_HOLD_MAX`). */
  rawHoldMax?: number;
  end(): void;
  /** Upstream failed mid-body, or the request was aborted (client gone). */
  error(error: Error): void;
}

/** The body of one upstream answer, read by exactly one consumer. */
export interface UpstreamBody {
  /** The answer is chunked: a sink with `raw` gets it undecoded. */
  readonly chunked: boolean;
  /** Attach the consumer; chunks that arrived before are delivered first. */
  consume(sink: BodySink): void;
  /** The consumer drained: read upstream again. */
  resume(): void;
  /** Abort the upstream request (its socket is closed at once). */
  destroy(reason?: Error): void;
  /** The whole body as text (small answers). */
  text(): Promise<string>;
  /** Called once when the body ended, failed or was aborted; `aborted` when the request's signal did it. */
  onSettled(fn: (aborted: boolean) => void): void;
}

/** Hop-by-hop and encoding headers: never forwarded in either direction. */
export const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'content-length', 'accept-encoding']);

export class Upstreams {
  private readonly pools = new Map<string, ConnectionPool>();

  private poolOf(target: UpstreamTarget): ConnectionPool {
    const known = this.pools.get(target.name);
    // The port is what changes on a restart.
    if (known && known.port === target.port && known.host === target.host) return known;
    known?.destroy();
    // Idle connections close after 4 s, before llama-server's own 5 s keep-alive does (a connection
    // it closed under us would fail the next request), and so a burst's do not stay with the idle router.
    const pool = new ConnectionPool(target.host, target.port, 4_000);
    this.pools.set(target.name, pool);
    return pool;
  }

  request(
    target: UpstreamTarget,
    options: { method: string; path: string; headers?: Record<string, string>; body?: Uint8Array; signal: AbortSignal },
  ): Promise<UpstreamResponse> {
    if (!TOKEN.test(options.method) || !SAFE_PATH.test(options.path)) return refused('its path');
    let head = `${options.method} ${options.path} HTTP/1.1\r\nhost: ${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}\r\n`;
    if (options.headers) {
      for (const k in options.headers) {
        const name = k.toLowerCase();
        if (HOP_HEADERS.has(name) || name === 'authorization') continue;
        const value = options.headers[k]!;
        if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) return refused(`its ${name} header`);
        head += `${name}: ${value}\r\n`;
      }
    }
    if (target.apiKey) {
      if (!HEADER_VALUE.test(target.apiKey)) return refused('the instance\'s API key');
      head += `authorization: Bearer ${target.apiKey}\r\n`;
    }
    const body = options.body && options.body.byteLength > 0 ? options.body : undefined;
    if (body || !NO_BODY_METHODS.has(options.method)) head += `content-length: ${body?.byteLength ?? 0}\r\n`;
    head += '\r\n';
    const call = new UpstreamCall(this.poolOf(target), head, body, options.method === 'HEAD', options.signal);
    return call.response;
  }

  /** Drop the pool of an instance that stopped (its connections are dead anyway). */
  forget(name: string): void {
    const known = this.pools.get(name);
    if (!known) return;
    this.pools.delete(name);
    known.destroy();
  }

  async close(): Promise<void> {
    for (const pool of this.pools.values()) pool.destroy();
    this.pools.clear();
  }
}

const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
/** A reused connection closed this soon after the request, without a byte back, was closed idle. */
const STALE_CLOSE_MS = 250;
// No request line or header is made of a path or value that would end it early. The head is
// written as latin1, which keeps only the low byte of a character: anything above \xff is
// refused too (U+010D would become a CR).
const TOKEN = /^[A-Z]+$/;
const SAFE_PATH = /^[\x21-\x7e\x80-\xff]+$/;

function refused(what: string): Promise<never> {
  return Promise.reject(new RouterError(400, 'bad_request', `The request was not forwarded: ${what} holds a character an HTTP request line or header cannot carry.`));
}

const enum State {
  Waiting,
  Open,
  Ended,
  Failed,
}

/**
 * One exchange: the request, the parser of its answer, and the answer's body for its one
 * consumer. Listens to the client's signal itself (an EventListener object: no closure per
 * request). Until a consumer attaches, arrived chunks are held with the socket paused, so nothing
 * is buffered beyond one read.
 */
class UpstreamCall implements UpstreamBody, ConnectionUser, ResponseEvents {
  readonly response: Promise<UpstreamResponse>;
  chunked = false;
  private resolve!: (response: UpstreamResponse) => void;
  private reject!: (error: Error) => void;
  private state = State.Waiting;
  private connection: Connection | null = null;
  private parser: ResponseParser;
  private answerHead: ResponseHead | null = null;
  private sink: BodySink | null = null;
  private held: Array<{ chunk: Buffer; raw: boolean }> | null = null;
  /** The consumer said it is full; only its resume() reads on. */
  private full = false;
  private gotBytes = false;
  private retried = false;
  private wasReused = false;
  private sentAt = 0;
  /** The whole request left: only then may the connection carry another (an early answer leaves bytes behind). */
  private written = false;
  private failure: Error | null = null;
  private abortedBySignal = false;
  private settledFns: Array<(aborted: boolean) => void> | null = null;

  constructor(
    private readonly pool: ConnectionPool,
    private readonly requestHead: string,
    private readonly body: Uint8Array | undefined,
    private readonly headRequest: boolean,
    private readonly signal: AbortSignal,
  ) {
    this.response = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.parser = new ResponseParser(this, headRequest);
    if (signal.aborted) {
      this.handleEvent();
      return;
    }
    signal.addEventListener('abort', this, { once: true });
    this.send(false);
  }

  private send(fresh: boolean): void {
    let connection: Connection;
    try {
      connection = this.pool.take(this, fresh);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.connection = connection;
    this.wasReused = connection.reused;
    const socket = connection.socket;
    this.sentAt = Date.now();
    this.written = false;
    const written = () => {
      if (this.connection === connection) this.written = true;
    };
    if (this.body) {
      socket.cork();
      socket.write(this.requestHead, 'latin1');
      socket.write(this.body, written);
      socket.uncork();
    } else {
      socket.write(this.requestHead, 'latin1', written);
    }
  }

  /** The client's signal fired. */
  handleEvent(): void {
    this.abortedBySignal = true;
    this.destroy(abortError());
  }

  // ---- the connection's events

  onData(chunk: Buffer): void {
    this.gotBytes = true;
    try {
      this.parser.feed(chunk);
    } catch (error) {
      // Bytes after a complete answer only cost the connection; anything else fails the answer.
      if (this.parser.done) this.release(false);
      else this.fail(error instanceof ParseError ? new Error(`the model's instance sent an answer the router cannot read: ${error.message}`) : (error as Error));
      return;
    }
    if (this.parser.done) this.release(this.answerHead?.keepAlive === true && this.written);
  }

  onClosed(error: Error | null): void {
    this.connection = null;
    if (this.state === State.Ended || this.state === State.Failed) return;
    if (this.state === State.Waiting && !this.gotBytes && !this.retried && this.wasReused && Date.now() - this.sentAt < STALE_CLOSE_MS) {
      // A kept-alive connection the server closed as we wrote (its idle close racing our request):
      // nothing was processed; once more, on a new one. Later than that, the instance died while
      // working on it, which is the router's to handle (it retries after the restart), not ours.
      this.retried = true;
      this.send(true);
      return;
    }
    // A reset is never a close-delimited body's end.
    if (error) return this.fail(error);
    try {
      this.parser.finish();
    } catch (cut) {
      this.fail(cut as Error);
    }
  }


  // ---- the parser's events

  head(head: ResponseHead): void {
    if (this.state !== State.Waiting) return;
    this.state = State.Open;
    this.answerHead = head;
    this.chunked = head.framing === Framing.Chunked;
    this.resolve({ status: head.status, headers: head.headers, body: this });
  }

  data(chunk: Buffer): void {
    this.deliver(chunk, false);
  }

  raw(chunk: Buffer): void {
    this.deliver(chunk, true);
  }

  end(): void {
    if (this.state !== State.Open) return;
    this.state = State.Ended;
    this.settle();
    this.sink?.end();
  }

  private deliver(chunk: Buffer, raw: boolean): void {
    if (this.state !== State.Open) return;
    const sink = this.sink;
    if (sink) {
      if (!(raw ? sink.raw!(chunk) : sink.data(chunk))) this.pause();
      return;
    }
    (this.held ??= []).push({ chunk, raw });
    this.pause();
  }

  private pause(): void {
    this.full = true;
    this.connection?.socket.pause();
  }

  // ---- the body, for its consumer

  consume(sink: BodySink): void {
    if (this.sink) throw new Error('an upstream body has one consumer');
    this.sink = sink;
    if (sink.raw && this.chunked) this.parser.passRaw(sink.rawHoldMax);
    const held = this.held;
    this.held = null;
    this.full = false;
    // Held before the consumer came: decoded (it may not take raw bytes; none are raw yet then).
    if (held) {
      try {
        for (const { chunk } of held) if (!sink.data(chunk)) this.full = true;
      } catch (error) {
        // The consumer refused what came before it attached (a translator and a frame it cannot
        // read): reported to it as the body's failure, as when it refuses a chunk that arrives
        // later, so it ends its answer and lets go of the client's socket.
        if (this.state === State.Ended || this.state === State.Failed) sink.error(error as Error);
        else this.fail(error as Error);
        return;
      }
    }
    if (this.state === State.Ended) sink.end();
    else if (this.state === State.Failed) sink.error(this.failure!);
    else if (!this.full) this.connection?.socket.resume();
  }

  resume(): void {
    this.full = false;
    if (this.state === State.Open) this.connection?.socket.resume();
  }

  destroy(reason: Error = abortError()): void {
    if (this.state === State.Ended || this.state === State.Failed) return;
    this.fail(reason);
  }

  text(): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      this.consume({
        data: (chunk) => chunks.push(chunk) > 0,
        end: () => resolve(Buffer.concat(chunks).toString('utf8')),
        error: reject,
      });
    });
  }

  onSettled(fn: (aborted: boolean) => void): void {
    if (this.state === State.Ended || this.state === State.Failed) fn(this.abortedBySignal);
    else (this.settledFns ??= []).push(fn);
  }

  /** Done with the connection: back to the pool when the answer was read whole and may be followed. */
  private release(reusable: boolean): void {
    const connection = this.connection;
    this.connection = null;
    if (!connection) return;
    if (reusable) connection.socket.resume();
    this.pool.give(connection, reusable);
  }

  private fail(error: Error): void {
    if (this.state === State.Ended || this.state === State.Failed) return;
    const before = this.state === State.Waiting;
    this.state = State.Failed;
    this.failure = error;
    this.held = null;
    // A half-read answer leaves the connection out of step: it is closed, not reused.
    this.release(false);
    this.settle();
    if (before) this.reject(error);
    else this.sink?.error(error);
  }

  private settle(): void {
    this.signal.removeEventListener('abort', this);
    const fns = this.settledFns;
    this.settledFns = null;
    if (fns) for (const fn of fns) fn(this.abortedBySignal);
  }
}

function abortError(): Error {
  const error = new Error('The client closed the request.');
  error.name = 'AbortError';
  return error;
}
