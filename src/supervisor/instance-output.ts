/**
 * Where one instance's output goes: redacted, into pino events (step
 * 'instance'), a ring buffer for `logs`, live followers, and the instance's
 * log file when it has one. Reading never waits on any of these, so a child
 * printing megabytes per second is never slowed by us.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { batchLogger, pendingLogBytes, withStep } from '../log.js';
import { redactText } from '../redact.js';
import { LineSplitter, RingBuffer } from './output.js';

/** Output queued but not yet processed, per stream, before reading pauses (the pipe then holds the child back). */
const HIGH_WATER_BYTES = 16 * 1024 * 1024;
const LOW_WATER_BYTES = 4 * 1024 * 1024;
/** Longest stretch of line processing before the event loop gets to read, probe and answer the socket. */
const SLICE_MS = 10;
/** Daemon log bytes not yet written (stdout is a slow pipe): past this, lines wait and the child's pipe fills instead. */
const MAX_PENDING_LOG_BYTES = 8 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export class InstanceOutput {
  readonly ring: RingBuffer;
  #followers = new Set<(line: string) => void>();
  #file: WriteStream | null = null;
  #filePath: string | undefined;
  #fileFailed = false;
  /** Lines processed in this slice: one write per sink (log file, daemon log per stream) per slice, not per line. */
  #pending: string[] = [];
  #logLines: Record<'stdout' | 'stderr', string[]> = { stdout: [], stderr: [] };
  /** Per stream: the tail of a cut piece that may be the start of a secret, prepended to the next piece. */
  #carry: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  lastOutputAt = 0;
  /** Bytes read from the child's pipes, and read but not yet processed: progress while it exits. */
  received = 0;
  backlog = 0;
  /** Write a batch of lines as the daemon's log events (bindings serialized once, not per line). */
  readonly #streams: Record<'stdout' | 'stderr', (lines: readonly string[]) => void>;

  constructor(
    private readonly name: string,
    private readonly log: Logger,
    ringLines: number,
    private readonly now: () => number,
    private secrets: readonly string[],
    private readonly level: 'info' | 'debug' = 'info',
  ) {
    this.ring = new RingBuffer(ringLines);
    // Output events carry only instance/stream/step and a message that redactText already scrubbed:
    // pino's key-path redaction finds nothing there and costs ~1.5 µs of each line (a quarter of it).
    const lines = log.child({}, { redact: [] });
    this.#streams = {
      stdout: batchLogger(withStep(lines, 'instance', { instance: name, stream: 'stdout' }), level),
      stderr: batchLogger(withStep(lines, 'instance', { instance: name, stream: 'stderr' }), level),
    };
  }

  configure(secrets: readonly string[], logFile: string | undefined): void {
    this.secrets = secrets;
    if (logFile !== this.#filePath) {
      void this.closeFile();
      this.#filePath = logFile;
      this.#fileFailed = false;
    }
  }

  follow(onLine: (line: string) => void): () => void {
    this.#followers.add(onLine);
    return () => this.#followers.delete(onLine);
  }

  /**
   * Wire a child's stream. Reading only queues the chunk; lines are processed in time slices
   * afterwards, so the pipe keeps draining during a burst and the child does not wait for our
   * logging. Past HIGH_WATER_BYTES queued the stream is paused: memory stays bounded and the pipe
   * slows the child down instead. `ended`: the stream is done (or destroyed); `processed`: and every
   * line of it is out, the last partial one included.
   */
  attach(stream: Readable, which: 'stdout' | 'stderr'): { ended: Promise<void>; processed: Promise<void> } {
    const splitter = new LineSplitter((line, continued) => this.#line(line, which, continued));
    const queue: Buffer[] = [];
    let head = 0;
    let queuedBytes = 0;
    let paused = false;
    let scheduled = false;
    let ended = false;
    let markEnded = () => undefined as void;
    let markProcessed = () => undefined as void;
    const endedPromise = new Promise<void>((resolve) => (markEnded = resolve));
    const processed = new Promise<void>((resolve) => (markProcessed = resolve));
    const pump = () => {
      scheduled = false;
      if (pendingLogBytes(this.log) > MAX_PENDING_LOG_BYTES && !ended) {
        scheduled = true;
        setTimeout(pump, 5);
        return;
      }
      const sliceEnd = performance.now() + SLICE_MS;
      while (head < queue.length) {
        const chunk = queue[head]!;
        queue[head++] = EMPTY;
        queuedBytes -= chunk.length;
        this.backlog -= chunk.length;
        splitter.push(chunk);
        if (performance.now() >= sliceEnd) break;
      }
      if (head === queue.length) {
        queue.length = 0;
        head = 0;
      }
      this.#flushFile();
      if (paused && queuedBytes <= LOW_WATER_BYTES) {
        paused = false;
        stream.resume();
      }
      if (head < queue.length) schedule();
      else if (ended) {
        splitter.flush();
        if (this.#carry[which] !== '') this.#line('', which, false);
        this.#flushFile();
        markProcessed();
      }
    };
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(pump);
    };
    stream.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      queuedBytes += chunk.length;
      this.received += chunk.length;
      this.backlog += chunk.length;
      if (!paused && queuedBytes > HIGH_WATER_BYTES) {
        paused = true;
        stream.pause();
      }
      schedule();
    });
    const finish = () => {
      if (ended) return;
      ended = true;
      markEnded();
      schedule();
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
    return { ended: endedPromise, processed };
  }

  /** A note of the supervisor's own about the child (spawn error), kept like a line of its output. */
  note(raw: string): void {
    this.#line(raw, 'stderr');
    this.#flushFile();
  }

  /**
   * A piece cut from an over-long line may end inside a secret: redaction sees the piece together
   * with what was held back, and holds back again any tail that could begin a secret.
   */
  #line(raw: string, which: 'stdout' | 'stderr', continued = false): void {
    let line = redactText(this.#carry[which] + raw, this.secrets);
    this.#carry[which] = '';
    if (continued) {
      const keep = secretPrefixAtEnd(line, this.secrets);
      if (keep > 0) {
        this.#carry[which] = line.slice(line.length - keep);
        line = line.slice(0, line.length - keep);
      }
    }
    this.lastOutputAt = this.now();
    this.ring.push(line);
    this.#logLines[which].push(line);
    if (this.#filePath !== undefined && !this.#fileFailed) this.#pending.push(line);
    for (const follower of this.#followers) {
      try {
        follower(line);
      } catch {
        // a broken follower must not stop the output
      }
    }
  }

  #flushFile(): void {
    for (const which of ['stdout', 'stderr'] as const) {
      if (this.#logLines[which].length === 0) continue;
      const lines = this.#logLines[which];
      this.#logLines[which] = [];
      this.#streams[which](lines);
    }
    if (this.#pending.length === 0) return;
    const text = `${this.#pending.join('\n')}\n`;
    this.#pending = [];
    if (this.#filePath === undefined || this.#fileFailed) return;
    if (this.#file === null) {
      this.#file = createWriteStream(this.#filePath, { flags: 'a' });
      this.#file.on('error', (error) => {
        this.#fileFailed = true;
        this.log.warn({ step: 'supervise', instance: this.name, file: this.#filePath, err: error.message }, `cannot append to the instance's log file; keeping output in the daemon log only`);
        void this.closeFile();
      });
    }
    this.#file.write(text);
  }

  /** Flush and close the log file (reopened by the next line); resolves once the data is written. */
  closeFile(): Promise<void> {
    const file = this.#file;
    this.#file = null;
    if (file === null) return Promise.resolve();
    return new Promise((resolve) => {
      file.once('error', () => resolve());
      file.end(() => resolve());
    });
  }
}

/** Length of the longest tail of `text` that is the beginning (not the whole) of a secret redactText replaces. */
function secretPrefixAtEnd(text: string, secrets: readonly string[]): number {
  let longest = 0;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (let n = Math.min(secret.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(secret.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
