/**
 * Where one instance's output goes: redacted, into the daemon log (pino JSON
 * events, step 'instance') unless `daemon_log = false`, a ring buffer for
 * `logs`, live followers, and the instance's log file when it has one. Each
 * chunk read from a pipe is handled at once and whole: its bytes go to the log
 * file as they are, its complete lines become the daemon log events in one
 * write and one ring entry; nothing is done per line unless someone follows
 * the output. So the pipes are read as fast as they fill and a child printing
 * megabytes per second is not held back, unless a sink cannot keep up: then
 * reading pauses (bounded memory) and the pipe slows the child down.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { linesLogger, onLogWritten, pendingLogBytes, plainLineCount, withStep } from '../log.js';
import { ChunkRedactor } from './chunk-redactor.js';
import { LineRing, MAX_LINE_CHARS, eachLine, toLines, type Lines } from './output.js';

/** Bytes a sink (log file, daemon log) may hold unwritten before reading pauses. */
const MAX_UNWRITTEN_BYTES = 1024 * 1024;
const RESUME_POLL_MS = 10;
const NEWLINE = Buffer.from('\n');

type Which = 'stdout' | 'stderr';

/** One pipe's state: bytes of a line not ended yet, and the decoder that carries a split character. */
interface Pipe {
  which: Which;
  redactor: ChunkRedactor;
  partial: Buffer[];
  partialBytes: number;
  decoder: StringDecoder;
}

export class InstanceOutput {
  readonly ring: LineRing;
  #followers = new Set<(line: string) => void>();
  #activity = new Set<() => void>();
  #file: WriteStream | null = null;
  #filePath: string | undefined;
  #fileFailed = false;
  #daemonLog = true;
  #secrets: readonly string[];
  #pipes = new Set<Pipe>();
  lastOutputAt = 0;
  /**
   * Progress while the child exits: bytes read from its pipes, pipes paused for a slow sink, and
   * resumes (a pipe resumed in the same timer phase as the drain check has read nothing yet).
   */
  received = 0;
  paused = 0;
  resumed = 0;
  /** Pipes paused for a slow sink, each resumed once a sink's write brings them under the bound. */
  #blocked = new Set<() => void>();
  #offLogWritten: (() => void) | null = null;
  readonly #progress = () => {
    for (const resume of this.#blocked) resume();
  };
  /** Write the lines of a chunk as the daemon's log events, in a few large writes. */
  readonly #events: Record<Which, ReturnType<typeof linesLogger>>;

  constructor(
    private readonly name: string,
    private readonly log: Logger,
    ringLines: number,
    private readonly now: () => number,
    secrets: readonly string[],
    level: 'info' | 'debug' = 'info',
  ) {
    this.ring = new LineRing(ringLines);
    this.#secrets = secrets;
    // Output events carry only instance/stream/step and a message that was already scrubbed.
    const lines = log.child({}, { redact: [] });
    this.#events = {
      stdout: linesLogger(withStep(lines, 'instance', { instance: name, stream: 'stdout' }), level),
      stderr: linesLogger(withStep(lines, 'instance', { instance: name, stream: 'stderr' }), level),
    };
  }

  /** `daemonLog` false: the lines go to the log file only, while there is a usable one. */
  configure(secrets: readonly string[], logFile: string | undefined, daemonLog = true): void {
    this.#secrets = secrets;
    this.#daemonLog = daemonLog;
    for (const pipe of this.#pipes) pipe.redactor.setSecrets(secrets);
    if (logFile !== this.#filePath) {
      void this.closeFile();
      this.#filePath = logFile;
      this.#fileFailed = false;
    }
  }

  /** Calls back with each line (`logs --follow`). */
  follow(onLine: (line: string) => void): () => void {
    this.#followers.add(onLine);
    return () => this.#followers.delete(onLine);
  }

  /** Calls back when output arrives (once per chunk, not per line). */
  onActivity(listener: () => void): () => void {
    this.#activity.add(listener);
    return () => this.#activity.delete(listener);
  }

  /**
   * Wire a child's stream. `done` resolves once the stream ended (or was destroyed) and all of it
   * is out, the last unended line included.
   */
  attach(stream: Readable, which: Which): { done: Promise<void> } {
    const pipe: Pipe = { which, redactor: new ChunkRedactor(), partial: [], partialBytes: 0, decoder: new StringDecoder('utf8') };
    pipe.redactor.setSecrets(this.#secrets);
    this.#pipes.add(pipe);
    let markDone = () => undefined as void;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    // Paused while the sinks hold too much: resumed as soon as a write brings them under the bound
    // (a timer's millisecond, while the pipe is full, holds the child back), with a slow poll besides
    // for a sink that stops reporting (a log file that failed).
    let paused = false;
    let poll: NodeJS.Timeout | null = null;
    const unpause = () => {
      paused = false;
      clearTimeout(poll!);
      poll = null;
      this.#unblock(resume);
      this.paused--;
    };
    const resume = () => {
      if (!paused || this.#unwritten() > MAX_UNWRITTEN_BYTES) return;
      unpause();
      this.resumed++;
      stream.resume();
    };
    const pollResume = () => {
      poll = setTimeout(pollResume, RESUME_POLL_MS);
      resume();
    };
    stream.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.#chunk(pipe, pipe.redactor.idle ? chunk : pipe.redactor.push(chunk));
      if (!paused && this.#unwritten() > MAX_UNWRITTEN_BYTES) {
        stream.pause();
        paused = true;
        this.paused++;
        this.#block(resume);
        poll = setTimeout(pollResume, RESUME_POLL_MS);
      }
    });
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      if (paused) unpause();
      this.#chunk(pipe, pipe.redactor.end());
      this.#endLine(pipe, pipe.decoder.end());
      this.#pipes.delete(pipe);
      markDone();
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
    return { done };
  }

  /** The log file cannot be written (found before a spawn): the output goes to the daemon log instead, whatever daemon_log says. */
  fileUnusable(): void {
    this.#fileFailed = true;
    void this.closeFile();
  }

  /** Whether the lines also go to the daemon log: asked for, or the only place left besides the ring. */
  get #toDaemonLog(): boolean {
    return this.#daemonLog || this.#filePath === undefined || this.#fileFailed;
  }

  /** A note of the supervisor's own about the child (spawn error), kept like a line of its output. */
  note(raw: string): void {
    const bytes = Buffer.from(`${raw}\n`);
    this.#writeFile([bytes]);
    this.#lines(toLines(`${raw}\n`), 'stderr');
  }

  #block(resume: () => void): void {
    if (this.#blocked.size === 0) this.#offLogWritten = onLogWritten(this.log, this.#progress);
    this.#blocked.add(resume);
  }

  #unblock(resume: () => void): void {
    this.#blocked.delete(resume);
    if (this.#blocked.size === 0) {
      this.#offLogWritten?.();
      this.#offLogWritten = null;
    }
  }

  /** Bytes the sinks were given but have not written yet. */
  #unwritten(): number {
    return (this.#file?.writableLength ?? 0) + pendingLogBytes(this.log);
  }

  /**
   * Complete lines go out now; the bytes after the last newline wait for the rest of their line
   * (so stdout and stderr never interleave inside a line), unless they grow past a line's limit.
   */
  #chunk(pipe: Pipe, bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.lastOutputAt = this.now();
    for (const listener of this.#activity) listener();
    const nl = bytes.lastIndexOf(0x0a);
    if (nl === -1) {
      pipe.partial.push(bytes);
      pipe.partialBytes += bytes.length;
      if (pipe.partialBytes >= MAX_LINE_CHARS) this.#endLine(pipe, '', false);
      return;
    }
    const pieces = pipe.partial;
    const lines = nl === bytes.length - 1 ? bytes : bytes.subarray(0, nl + 1);
    pipe.partial = nl === bytes.length - 1 ? [] : [bytes.subarray(nl + 1)];
    pipe.partialBytes = bytes.length - nl - 1;
    if (pieces.length === 0) {
      this.#writeFile([lines]);
      this.#complete(pipe, lines);
      return;
    }
    // The line begun in earlier reads is joined on its own: the rest of the chunk is not copied.
    const first = lines.indexOf(0x0a) + 1;
    pieces.push(lines);
    this.#writeFile(pieces);
    pieces[pieces.length - 1] = lines.subarray(0, first);
    this.#complete(pipe, unpooledConcat(pieces));
    if (first < lines.length) this.#complete(pipe, lines.subarray(first));
  }

  /** `bytes`: complete lines, each ended by '\n'. */
  #complete(pipe: Pipe, bytes: Buffer): void {
    const count = plainLineCount(bytes, MAX_LINE_CHARS);
    if (count > 0) this.#lines({ body: bytes, count }, pipe.which);
    else this.#lines(toLines(pipe.decoder.write(bytes)), pipe.which);
  }

  /** The unended line so far goes out as a line of its own: end of the stream, or a runaway line cut. */
  #endLine(pipe: Pipe, rest: string, atEnd = true): void {
    const pieces = pipe.partial;
    pipe.partial = [];
    pipe.partialBytes = 0;
    const text = decode(pipe.decoder, pieces) + rest;
    if (pieces.length > 0) this.#writeFile(atEnd ? [...pieces, NEWLINE] : pieces);
    if (text.length > 0) this.#lines(toLines(text), pipe.which);
  }

  #lines(lines: Lines, which: Which): void {
    this.ring.push(lines);
    if (this.#toDaemonLog) {
      if (typeof lines.body === 'string') this.#events[which].text(lines.body);
      else this.#events[which].bytes(lines.body, lines.count);
    }
    for (const follower of this.#followers) {
      try {
        eachLine(lines, follower);
      } catch {
        // a broken follower must not stop the output
      }
    }
  }

  #writeFile(pieces: readonly Buffer[]): void {
    if (this.#filePath === undefined || this.#fileFailed) return;
    if (this.#file === null) {
      this.#file = createWriteStream(this.#filePath, { flags: 'a' });
      this.#file.on('error', (error) => {
        this.#fileFailed = true;
        const where = this.#daemonLog ? 'keeping output in the daemon log only' : 'its output goes to the daemon log instead (daemon_log = false needs a log file)';
        this.log.warn({ step: 'supervise', instance: this.name, file: this.#filePath, err: error.message }, `cannot append to the instance's log file; ${where}`);
        void this.closeFile();
      });
    }
    const last = pieces.length - 1;
    for (let i = 0; i < last; i++) this.#file.write(pieces[i]);
    this.#file.write(pieces[last], this.#progress);
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

/**
 * Buffer.concat of a small total is a slice of Node's shared 8 KiB pool, which a ring entry would keep
 * whole: a line that came in several reads gets a buffer of its own size.
 */
function unpooledConcat(pieces: readonly Buffer[]): Buffer {
  const out = Buffer.allocUnsafeSlow(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

function decode(decoder: StringDecoder, pieces: readonly Buffer[]): string {
  if (pieces.length === 1) return decoder.write(pieces[0]!);
  let text = '';
  for (const piece of pieces) text += decoder.write(piece);
  return text;
}
