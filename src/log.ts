/**
 * One pino logger per process. JSON lines when the destination is not a TTY
 * (docker logs, Kubernetes, files), pino-pretty when a person is watching.
 * Every line carries `step` so a boot's log reads as a sequence of steps.
 *
 * The file-descriptor destination is asynchronous (log-writer.ts): lines
 * logged while a write is in flight go out together in the next one, so a
 * flood of instance output costs a few large writes instead of one per line,
 * and what is queued is written synchronously on process 'exit' (which also
 * follows an uncaught exception and the daemon's own exit on SIGTERM/SIGINT).
 */
import { createRequire } from 'node:module';
import { pino, stdTimeFunctions, symbols, type Logger, type DestinationStream } from 'pino';
import { LogWriter } from './log-writer.js';

export type { Logger } from 'pino';

/** Keys that may hold secrets anywhere in a log event. */
export const REDACT_PATHS = [
  'api_key',
  'apiKey',
  '*.api_key',
  '*.apiKey',
  'env.LLAMA_API_KEY',
  '*.env.LLAMA_API_KEY',
  'headers.authorization',
  'token',
  '*.token',
];

/**
 * `step` lives on the logger object, not in pino's chained bindings: a child
 * created with child({ step }) would append a second `"step"` key to every
 * JSON line instead of replacing the parent's. A mixin writes the nearest
 * logger's step once per line; a per-call `{ step }` still wins.
 */
const STEP = Symbol('infer-entry.step');
type Stepped = Logger & { [STEP]?: string };

/** A child logger whose lines carry `step` (replacing the parent's) plus `bindings`. */
export function withStep(log: Logger, step: string, bindings: Record<string, unknown> = {}): Logger {
  // A logger not made by createLogger has no step mixin: bind the step the ordinary way.
  if (stepOf(log) === undefined) return log.child({ ...bindings, step });
  const child = log.child(bindings) as Stepped;
  child[STEP] = step;
  return child;
}

/** `log` itself when its lines already carry `step` (or one of `alsoAccepted`), else `withStep(log, step)`: nested calls keep the outer step. */
export function ensureStep(log: Logger, step: string, ...alsoAccepted: string[]): Logger {
  const current = stepOf(log);
  return current === step || (current !== undefined && alsoAccepted.includes(current)) ? log : withStep(log, step);
}

/** The step a logger's lines carry. */
export function stepOf(log: Logger): string | undefined {
  return (log as Stepped)[STEP];
}

export interface CreateLoggerOptions {
  /** File descriptor 1 or 2, or a stream (tests). Default: 2 (stderr), so command output on stdout stays clean. */
  destination?: 1 | 2 | DestinationStream;
  level?: string;
  /** Force pretty output (true), JSON (false), or decide by isatty (undefined). */
  pretty?: boolean;
  /** Bound into every line. */
  base?: Record<string, unknown>;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const FORMATS = ['json', 'pretty'];

/**
 * INFER_ENTRY_LOG_LEVEL / INFER_ENTRY_LOG_FORMAT. A typo must neither stop PID 1 nor pass
 * unnoticed: like the AUTO_INFER_* switches, an unknown value falls back to the default and
 * the first log line warns, naming it.
 */
export function readLogSettings(env: NodeJS.ProcessEnv = process.env): { level: string; format: 'json' | 'pretty' | undefined; warnings: string[] } {
  const warnings: string[] = [];
  let level = (env.INFER_ENTRY_LOG_LEVEL ?? '').trim().toLowerCase() || 'info';
  if (!LEVELS.includes(level)) {
    warnings.push(`INFER_ENTRY_LOG_LEVEL=${JSON.stringify(env.INFER_ENTRY_LOG_LEVEL)} is not one of ${LEVELS.join(', ')}; using info`);
    level = 'info';
  }
  let format = (env.INFER_ENTRY_LOG_FORMAT ?? '').trim().toLowerCase();
  if (format !== '' && !FORMATS.includes(format)) {
    warnings.push(`INFER_ENTRY_LOG_FORMAT=${JSON.stringify(env.INFER_ENTRY_LOG_FORMAT)} is not json or pretty; choosing by terminal`);
    format = '';
  }
  return { level, format: format === '' ? undefined : (format as 'json' | 'pretty'), warnings };
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const destination = options.destination ?? 2;
  const settings = options.level === undefined || options.pretty === undefined ? readLogSettings() : undefined;
  const level = options.level ?? settings?.level ?? 'info';
  const usePretty =
    options.pretty ??
    (typeof destination === 'number' && settings?.format !== 'json'
      ? settings?.format === 'pretty' || Boolean((destination === 1 ? process.stdout : process.stderr).isTTY)
      : false);
  const { step = 'main', ...base } = (options.base ?? {}) as { step?: string } & Record<string, unknown>;
  const common = {
    level,
    base,
    mixin: (_merge: object, _level: number, logger: unknown) => ({ step: (logger as Stepped)[STEP] ?? step }),
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: stdTimeFunctions.isoTime,
  };
  if (usePretty) {
    const fd = typeof destination === 'number' ? destination : 2;
    // loaded only when a person is watching: a container's JSON logs never need it
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    const stream = pretty({
      destination: fd,
      sync: true,
      colorize: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      messageFormat: '[{step}{if instance} {instance}{end}] {msg}',
      hideObject: false,
    });
    return announce(rootWithStep(pino(common, stream), String(step)), settings?.warnings);
  }
  const stream = typeof destination === 'number' ? LogWriter.for(destination) : destination;
  return announce(rootWithStep(pino(common, stream), String(step)), settings?.warnings);
}

function announce(log: Logger, warnings: string[] | undefined): Logger {
  for (const warning of warnings ?? []) log.warn(warning);
  return log;
}

function rootWithStep(log: Logger, step: string): Logger {
  (log as Stepped)[STEP] = step;
  return log;
}


/**
 * Writes many messages of one child logger as pino lines with a few large writes to its destination:
 * the same JSON pino would write for `log[level](msg)` (bindings, step, msg), one timestamp for the
 * batch. For output floods, where pino's per-call work would dominate.
 *  - `text(body)`: the messages joined by '\n'. Without a backslash in the text, one JSON.stringify
 *    of the whole body and one replace of its escaped newlines make every line.
 *  - `bytes(lines, count)`: `count` lines, each ended by '\n', of printable ASCII without '"' or
 *    '\\' (see plainLineCount): their JSON is the bytes themselves between a prefix and '"}'.
 */
export function linesLogger(log: Logger, level: 'info' | 'debug'): { text(body: string): void; bytes(lines: Buffer, count: number): void } {
  const stream = (log as unknown as Record<symbol, (DestinationStream & Partial<Pick<LogWriter, 'writeWith'>>) | undefined>)[symbols.streamSym];
  // not a pino logger (a test double): one call per message
  if (!stream || typeof log.levels?.values?.[level] !== 'number') {
    const text = (body: string) => body.split('\n').forEach((m) => log[level](m));
    return { text, bytes: (lines) => text(lines.toString('latin1', 0, lines.length - 1)) };
  }
  const chindings = (log as unknown as Record<symbol, string>)[symbols.chindingsSym] ?? '';
  const head = `{"level":${log.levels.values[level]},"time":"`;
  // a logger not made by createLogger carries its step in the bindings already
  const step = stepOf(log);
  const tail = `"${chindings}${step === undefined ? '' : `,"step":${JSON.stringify(step)}`},"msg":`;
  const write = (prefix: string, body: string) => {
    if (!body.includes('\\')) {
      // '$' in a replacement string is a pattern ($&, $1): the bindings may hold one
      const between = `"}\n${prefix}"`.replaceAll('$', '$$$$');
      stream.write(`${prefix}${JSON.stringify(body).replaceAll('\\n', between)}}\n`);
      return;
    }
    let text = '';
    for (const msg of body.split('\n')) text += `${prefix}${JSON.stringify(msg)}}\n`;
    stream.write(text);
  };
  const text = (body: string) => {
    if (!log.isLevelEnabled(level)) return;
    const prefix = head + new Date().toISOString() + tail;
    // Strings past ~128 KiB go to V8's large-object space, several times dearer to make and collect
    // than the same text in pieces: one write per piece of about PIECE_CHARS.
    for (let start = 0; ; ) {
      const cut = body.length - start > PIECE_CHARS ? body.indexOf('\n', start + PIECE_CHARS) : -1;
      if (cut === -1) return write(prefix, body.slice(start));
      write(prefix, body.slice(start, cut));
      start = cut + 1;
    }
  };
  const writeWith = stream.writeWith?.bind(stream);
  if (writeWith === undefined) return { text, bytes: (lines) => text(lines.toString('latin1', 0, lines.length - 1)) };
  return {
    text,
    bytes(lines, count) {
      if (!log.isLevelEnabled(level)) return;
      const open = `${head}${new Date().toISOString()}${tail}"`;
      const openBytes = Buffer.byteLength(open);
      // the lines are ASCII; the bindings (an instance's name) may not be
      const encoding = openBytes === open.length ? 'latin1' : 'utf8';
      // '$' in a replacement string is a pattern ($&, $1): the bindings may hold one
      const between = `"}\n${open}`.replaceAll('$', '$$$$');
      // Built in place in the destination's reused blocks (no fresh buffer, and its page faults, per
      // batch), a piece of ~PIECE_CHARS at a time: its text, each newline replaced by the end of one
      // event and the start of the next, and written out. A few native calls per piece, where copying
      // line by line cost two calls and a typed-array object per line: 40 % fewer instructions.
      writeWith(lines.length - count + count * (openBytes + 3), (out) => {
        let at = 0;
        for (let start = 0; start < lines.length; ) {
          const end = lines.length - start > PIECE_CHARS ? lines.indexOf(0x0a, start + PIECE_CHARS) : lines.length - 1;
          at += out.write(`${open}${lines.toString('latin1', start, end).replace(NEWLINES, between)}"}\n`, at, encoding);
          start = end + 1;
        }
      });
    },
  };
}

const NEWLINES = /\n/g;
const PIECE_CHARS = 16 * 1024;

/**
 * Lines in `bytes` (each ended by '\n', none longer than maxChars) when all of them are printable
 * ASCII without '"' or '\\', the JSON string of which is the bytes themselves; -1 otherwise.
 * Four bytes at a time: a word with no byte below 0x20 (so no newline either), none from 0x7f up,
 * no '"' and no '\\' is skipped with a few integer operations (half the time of a byte loop);
 * the others, one in about 25 for 100-byte lines, are looked at byte by byte.
 */
export function plainLineCount(bytes: Buffer, maxChars: number): number {
  let count = 0;
  let lineStart = 0;
  /** Whether the byte at i keeps the lines plain; counts the line it ends. */
  const plain = (i: number): boolean => {
    const b = bytes[i]!;
    if (b >= 0x20 && b <= 0x7e && b !== 0x22 && b !== 0x5c) return true;
    if (b !== 0x0a || i - lineStart > maxChars) return false;
    count++;
    lineStart = i + 1;
    return true;
  };
  const n = bytes.length;
  const head = Math.min(n, (4 - (bytes.byteOffset & 3)) & 3);
  let i = 0;
  for (; i < head; i++) if (!plain(i)) return -1;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const w32 = new Int32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let k = 0; k < words; k++) {
      const w = w32[k]!;
      const quote = w ^ 0x22222222;
      const backslash = w ^ 0x5c5c5c5c;
      const del = w ^ 0x7f7f7f7f;
      // the 0x80 bit of a byte: below 0x20, equal to '"', '\\' or 0x7f (a zero after the xor), or from 0x80 up
      const suspect = ((w - 0x20202020) & ~w) | ((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash) | ((del - 0x01010101) & ~del) | w;
      if ((suspect & 0x80808080) === 0) continue;
      const at = i + k * 4;
      if (!plain(at) || !plain(at + 1) || !plain(at + 2) || !plain(at + 3)) return -1;
    }
  }
  for (i += words * 4; i < n; i++) if (!plain(i)) return -1;
  return lineStart === n ? count : -1;
}

/** Bytes the logger's destination holds that are not written yet (0 for a synchronous one). */
export function pendingLogBytes(log: Logger): number {
  return writerOf(log)?.pending ?? 0;
}

/** The logger's destination when it is the daemon's own writer (createLogger's), else undefined. */
function writerOf(log: Logger): LogWriter | undefined {
  const stream = (log as unknown as Record<symbol, unknown>)[symbols.streamSym];
  return stream instanceof LogWriter ? stream : undefined;
}

/** Calls back whenever the logger's destination wrote something (never, for a synchronous one). */
export function onLogWritten(log: Logger, listener: () => void): () => void {
  return writerOf(log)?.onWritten(listener) ?? (() => undefined);
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Resolves once every line given to the logger's destination is written (or after `timeoutMs`):
 * a command ends with process.exit, and the exit hook's synchronous flush cannot finish an
 * asynchronous write already in flight (a slow reader of a pipe: `docker logs`, a test), whose
 * unwritten rest would be lost. Bounded, so a reader that never reads cannot hold PID 1's exit.
 */
export function flushLog(log: Logger, timeoutMs: number): Promise<void> {
  return writerOf(log)?.whenWritten(timeoutMs) ?? Promise.resolve();
}
