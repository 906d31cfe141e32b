/**
 * Errors a user can cause or fix. Each carries a stable `code` (for scripts and
 * tests), the sysexits-style exit status the CLI ends with, and a `hint` that
 * says what to do. The CLI prints `message` + `hint` on one line and no stack.
 */

/** sysexits(3) values; README documents each. */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  DATA: 65,
  NO_INPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CANT_CREATE: 73,
  IO: 74,
  TEMP_FAIL: 75,
  CONFIG: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface InferEntryErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Structured details for logs / --json output (never secrets). */
  details?: Record<string, unknown>;
}

export class InferEntryError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, exitCode: ExitCode, message: string, options: InferEntryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** One line for humans: what went wrong, then what to do. */
  toUserString(): string {
    return this.hint ? `${this.message} — ${this.hint}` : this.message;
  }
}

/** Bad command line. */
export class UsageError extends InferEntryError {
  constructor(message: string, options: InferEntryErrorOptions = {}) {
    super('E_USAGE', ExitCode.USAGE, message, { hint: 'run with --help to see the accepted options', ...options });
  }
}

/** A package archive that is broken, hostile or unusable. */
export class PackageError extends InferEntryError {
  constructor(code: string, message: string, options: InferEntryErrorOptions = {}) {
    super(code, ExitCode.DATA, message, options);
  }
}

/** An input file that does not exist or cannot be read. */
export class MissingInputError extends InferEntryError {
  constructor(code: string, message: string, options: InferEntryErrorOptions = {}) {
    super(code, ExitCode.NO_INPUT, message, options);
  }
}

/** Cannot create a file or directory we need. */
export class CannotCreateError extends InferEntryError {
  constructor(code: string, message: string, options: InferEntryErrorOptions = {}) {
    super(code, ExitCode.CANT_CREATE, message, options);
  }
}

/** Disk full, read/write failure. */
export class IoError extends InferEntryError {
  constructor(code: string, message: string, options: InferEntryErrorOptions = {}) {
    super(code, ExitCode.IO, message, options);
  }
}

/** Try again later: a lock is held, the daemon is busy. */
export class TempFailError extends InferEntryError {
  constructor(code: string, message: string, options: InferEntryErrorOptions = {}) {
    super(code, ExitCode.TEMP_FAIL, message, options);
  }
}

/** Configuration file or environment is invalid. */
export class ConfigError extends InferEntryError {
  constructor(code: string, message: string, options: InferEntryErrorOptions = {}) {
    super(code, ExitCode.CONFIG, message, options);
  }
}

/** A service we need (the daemon's control socket) is not there. */
export class UnavailableError extends InferEntryError {
  constructor(code: string, message: string, options: InferEntryErrorOptions = {}) {
    super(code, ExitCode.UNAVAILABLE, message, options);
  }
}

export function isInferEntryError(error: unknown): error is InferEntryError {
  return error instanceof InferEntryError;
}

/** Node's errno code of an error, if any (ENOENT, ENOSPC, ...). */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === 'object' && 'code' in error && typeof (error as { code: unknown }).code === 'string') {
    return (error as { code: string }).code;
  }
  return undefined;
}
