/**
 * The daemon log's file-descriptor destination (stdout or stderr: what `docker logs` shows).
 *
 * A slow reader of the pipe never blocks PID 1: bytes are queued and written by one `writev` of
 * everything queued at a time (on the main thread for a pipe or file, whose writes do not block —
 * a full pipe answers EAGAIN and is tried again after 1–16 ms; from the thread pool for a terminal), so a
 * writer that fell behind catches up in one call, without joining the pieces first. The bytes are built in place (`writeWith`) in blocks
 * that are reused once written: a flood of instance output writes tens of MB of log events, and a
 * fresh buffer for each batch cost more in page faults and copies than building the events did.
 *
 * Nothing is lost on the way out: `whenWritten` lets the daemon wait for the last write, and on
 * process 'exit' (which also follows an uncaught exception) whatever is still queued is written
 * synchronously. Only SIGKILL, and on a terminal a write already handed to the thread pool when the
 * process dies, can drop bytes (or, that one write, land after the lines the exit flush wrote).
 */
import fs from 'node:fs';
import { isatty } from 'node:tty';

/** A 64 KiB read of 100-byte lines makes ~135 KiB of events: several batches fit in a block. */
const BLOCK_BYTES = 1024 * 1024;
/**
 * Written blocks kept for reuse: about what a flood has queued at once (the supervisor pauses its
 * pipes at 1 MiB unwritten), dropped once the writer has been idle for IDLE_TRIM_MS.
 */
const SPARE_BLOCKS = 2;
const IDLE_TRIM_MS = 1000;
/**
 * A full pipe (EAGAIN) is tried again after 1 ms, then twice as long each time it is still full, up
 * to RETRY_MAX_MS; a write that gets through starts again at 1 ms. In a container the daemon's
 * stdout is a pipe that the runtime (conmon, containerd-shim) drains within a millisecond: a fixed
 * 10 ms wait there held an instance's flood to ~60 % of its speed (bench/README.md, supervisor
 * section). A reader that stopped costs a timer every RETRY_MAX_MS, not a busy loop.
 */
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 16;
const IOV_MAX = 1024;
/** At exit, a reader that never reads must not hold the process forever. */
const EXIT_FLUSH_MS = 5000;

interface Block {
  bytes: Buffer;
  at: number;
  /** Slices of it queued or being written. */
  outstanding: number;
}

interface Piece {
  bytes: Buffer;
  block: Block | null;
}

export class LogWriter {
  readonly #fd: number;
  /**
   * Pieces from `#head` on are not written yet; those before it are written or (on a terminal) in
   * flight. A head index rather than re-slicing the array per write: a backlog of many small lines
   * behind a slow reader is then drained in linear time, not quadratic.
   */
  #queue: Piece[] = [];
  #head = 0;
  #queued = 0;
  #inFlight: Piece[] | null = null;
  /** Where the pieces in flight start in `#queue`: what a short write leaves goes back to the head. */
  #inFlightFrom = 0;
  #inFlightBytes = 0;
  #retry: NodeJS.Timeout | null = null;
  #retryMs = RETRY_FIRST_MS;
  #block: Block | null = null;
  #spares: Block[] = [];
  #trim: NodeJS.Timeout | null = null;
  #writesSinceTrim = 0;
  /** The descriptor failed with something other than EAGAIN (EPIPE: nobody reads any more): drop everything. */
  #broken = false;
  /**
   * Pipes and files are written here, on the main thread (a pipe the daemon's stdout is made
   * non-blocking by Node: a full one answers EAGAIN, never blocks): what was written is then always
   * known, so the exit flush never meets a write half done in the thread pool (its tail lost, the
   * next line glued to a cut one). A terminal is written from the pool: it may block.
   */
  readonly #sync: boolean;
  /** whenWritten gave up on a reader that does not read: the exit flush tries once, not for 5 s more. */
  #gaveUp = false;
  #onWritten = new Set<() => void>();

  /** One writer per descriptor, so loggers sharing it keep their lines in order. */
  static for(fd: number): LogWriter {
    let writer = WRITERS.get(fd);
    if (writer === undefined) WRITERS.set(fd, (writer = new LogWriter(fd)));
    return writer;
  }

  private constructor(fd: number) {
    this.#fd = fd;
    this.#sync = !isatty(fd);
    // Node opens a pipe or socket on stdout/stderr non-blocking when it makes process.stdout/stderr:
    // made here, so a full pipe answers EAGAIN to the writes above instead of blocking PID 1.
    if (this.#sync && fd === 1) void process.stdout.writable;
    if (this.#sync && fd === 2) void process.stderr.writable;
  }

  /** pino's own lines. */
  write(text: string): boolean {
    this.writeWith(Buffer.byteLength(text), (out) => out.write(text));
    return true;
  }

  /** Queue `length` bytes that `fill` writes into the buffer it is given (all of it). */
  writeWith(length: number, fill: (out: Buffer) => void): void {
    if (this.#broken || length === 0) return;
    const piece = this.#reserve(length);
    fill(piece.bytes);
    this.#queue.push(piece);
    this.#queued += length;
    this.#kick();
  }

  /** Bytes not written yet. */
  get pending(): number {
    return this.#queued + this.#inFlightBytes;
  }

  /** Calls back after each write completes (or the descriptor is given up): `pending` went down. */
  onWritten(listener: () => void): () => void {
    this.#onWritten.add(listener);
    return () => this.#onWritten.delete(listener);
  }

  flush(cb?: (error?: Error) => void): void {
    void this.whenWritten(EXIT_FLUSH_MS).then(() => cb?.());
  }

  /** Resolves once nothing is queued and no write is in flight, or after `timeoutMs`. */
  whenWritten(timeoutMs: number): Promise<void> {
    if (this.pending === 0 || this.#broken) return Promise.resolve();
    return new Promise((resolve) => {
      // not unref'd: main's top-level await would end the process with 13 while it waits
      const timer = setTimeout(() => {
        this.#gaveUp = true;
        off();
        resolve();
      }, timeoutMs);
      // every write that lowers `pending`, and a descriptor given up, tells its listeners
      const off = this.onWritten(() => {
        if (this.pending !== 0 && !this.#broken) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /**
   * Write what is queued now, synchronously (process 'exit'). (On a terminal, a write in flight is
   * left to the thread pool: it cannot be told apart from one already done.)
   */
  flushSync(): void {
    clearTimeout(this.#retry ?? undefined);
    this.#retry = null;
    const deadline = Date.now() + (this.#gaveUp ? 0 : EXIT_FLUSH_MS);
    while (this.#waiting > 0 && !this.#broken) {
      const bufs = this.#front();
      try {
        this.#consume(fs.writevSync(this.#fd, bufs));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return this.#fail(error as NodeJS.ErrnoException);
        if (Date.now() >= deadline) return this.#drop();
        Atomics.wait(SLEEP, 0, 0, 1);
      }
    }
  }

  #reserve(length: number): Piece {
    // a batch this large (lines of a few bytes each) gets a buffer of its own
    if (length > BLOCK_BYTES / 2) return { bytes: Buffer.allocUnsafeSlow(length), block: null };
    let block = this.#block;
    if (block === null || block.bytes.length - block.at < length) {
      block = this.#spares.pop() ?? { bytes: Buffer.allocUnsafeSlow(BLOCK_BYTES), at: 0, outstanding: 0 };
      this.#block = block;
    }
    const bytes = block.bytes.subarray(block.at, block.at + length);
    block.at += length;
    block.outstanding++;
    return { bytes, block };
  }

  /** Pieces queued and not written (nor in flight). */
  get #waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** The bytes of the next pieces to write, as many as one writev takes. */
  #front(): Buffer[] {
    const end = Math.min(this.#queue.length, this.#head + IOV_MAX);
    const bufs: Buffer[] = [];
    for (let i = this.#head; i < end; i++) bufs.push(this.#queue[i]!.bytes);
    return bufs;
  }

  #kick(): void {
    if (this.#inFlight !== null || this.#retry !== null || this.#waiting === 0) return;
    if (this.#sync) return this.#writeNow();
    const pieces = this.#queue.slice(this.#head, this.#head + IOV_MAX);
    this.#inFlightFrom = this.#head;
    this.#head += pieces.length;
    this.#inFlight = pieces;
    for (const piece of pieces) this.#inFlightBytes += piece.bytes.length;
    this.#queued -= this.#inFlightBytes;
    fs.writev(
      this.#fd,
      pieces.map((p) => p.bytes),
      (error, written) => this.#written(error, written),
    );
  }

  #written(error: NodeJS.ErrnoException | null, written: number): void {
    this.#inFlight = null;
    this.#queued += this.#inFlightBytes;
    this.#inFlightBytes = 0;
    // what is left goes back to the front of the queue, in order: those pieces are still in place
    // before the head (nothing is compacted while a write is in flight)
    this.#head = this.#inFlightFrom;
    if (error === null) {
      this.#consume(written);
      this.#writesSinceTrim++;
      this.#kick();
    } else if (error.code === 'EAGAIN') {
      this.#retryLater();
      return;
    } else {
      this.#fail(error);
    }
    for (const listener of this.#onWritten) listener();
  }

  /** A full pipe: the queue is tried again shortly (not in a busy loop). */
  #retryLater(): void {
    const ms = this.#retryMs;
    this.#retryMs = Math.min(ms * 2, RETRY_MAX_MS);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#kick();
    }, ms);
  }

  /** Everything queued, now, as far as the descriptor takes it; a full pipe is tried again shortly. */
  #writeNow(): void {
    while (this.#waiting > 0 && !this.#broken) {
      const bufs = this.#front();
      let written: number;
      try {
        written = fs.writevSync(this.#fd, bufs);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.#fail(error as NodeJS.ErrnoException);
          break;
        }
        // earlier passes may have written: the listeners below hear of it now, not after the retry
        this.#retryLater();
        break;
      }
      const offered = bufs.reduce((n, b) => n + b.length, 0);
      this.#consume(written);
      this.#writesSinceTrim++;
      if (written < offered && this.#waiting > 0) {
        // the pipe took part of it: it is full; the rest after a while, not in a busy loop
        this.#retryLater();
        break;
      }
    }
    for (const listener of this.#onWritten) listener();
  }

  /** `written` bytes from the head of the queue are out: release them. */
  #consume(written: number): void {
    if (written > 0) this.#retryMs = RETRY_FIRST_MS;
    const queue = this.#queue;
    let head = this.#head;
    while (head < queue.length && written >= queue[head]!.bytes.length) {
      const piece = queue[head]!;
      queue[head++] = EMPTY;
      written -= piece.bytes.length;
      this.#queued -= piece.bytes.length;
      this.#release(piece.block);
    }
    if (written > 0) {
      const piece = queue[head]!;
      piece.bytes = piece.bytes.subarray(written);
      this.#queued -= written;
    }
    this.#head = head;
    // the written part is dropped once it is most of the array (amortised: each piece moves once);
    // not while a terminal write is in flight: its pieces are kept in place before the head
    if (this.#inFlight !== null) return;
    if (head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (head > IOV_MAX && head * 2 > queue.length) {
      this.#queue = queue.slice(head);
      this.#head = 0;
    }
  }

  #release(block: Block | null): void {
    if (block === null || --block.outstanding > 0) return;
    // the block being filled starts over; a full one is kept for reuse, up to a few
    block.at = 0;
    if (block === this.#block || this.#spares.length >= SPARE_BLOCKS) return;
    this.#spares.push(block);
    this.#trim ??= setTimeout(this.#trimWhenIdle, IDLE_TRIM_MS).unref();
  }

  /** A flood is over once a whole period passed without a write: its spare blocks are not kept. */
  readonly #trimWhenIdle = () => {
    this.#trim = null;
    if (this.#writesSinceTrim > 0) {
      this.#writesSinceTrim = 0;
      this.#trim = setTimeout(this.#trimWhenIdle, IDLE_TRIM_MS).unref();
      return;
    }
    this.#spares = [];
    if (this.#block?.outstanding === 0) this.#block = null;
  };

  /** The descriptor failed for good: said once on stderr (unless that is the one), then dropped. */
  #fail(error: NodeJS.ErrnoException): void {
    if (error.code !== 'EPIPE' && this.#fd !== 2) {
      try {
        fs.writeSync(2, `infer-entry: writing the log to descriptor ${this.#fd} failed (${error.code ?? error.message}); its lines are dropped from now on\n`);
      } catch {
        // stderr is gone too
      }
    }
    this.#drop();
  }

  #drop(): void {
    this.#broken = true;
    this.#queue = [];
    this.#head = 0;
    this.#queued = 0;
  }
}

/** Put where a written piece was, so the queue does not keep its bytes alive. */
const EMPTY: Piece = { bytes: Buffer.alloc(0), block: null };
const SLEEP = new Int32Array(new SharedArrayBuffer(4));
const WRITERS = new Map<number, LogWriter>();
process.on('exit', () => {
  for (const writer of WRITERS.values()) writer.flushSync();
});
