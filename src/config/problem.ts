/**
 * A problem of a config file, typed from where it is found (parser, schema,
 * semantic checks, file checks) to where it is shown (validate, check-and-run,
 * the daemon's log, the control socket's error answer). Only the edges turn it
 * into text (formatProblem) or JSON (problemJson). Light on purpose: the daemon
 * and the socket client import it without loading zod or the TOML parser.
 */
import { ConfigError, type InferEntryErrorOptions } from '../errors.js';
import type { KeyPath } from './toml-locator.js';

export type { KeyPath };

/**
 * What a problem is about, so code reacts to it without reading its message:
 * the supervisor fails an instance whose executable or model is unusable and
 * only warns about its log file.
 */
export const PROBLEM_SUBJECTS = ['toml', 'overrides', 'setting', 'executable', 'model', 'log-file'] as const;
export type ProblemSubject = (typeof PROBLEM_SUBJECTS)[number];

export const PROBLEM_KINDS = ['syntax', 'schema', 'semantic', 'fs'] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

export interface ConfigProblem {
  /** The config file, or the variable the problem comes from (AUTO_INFER_LLAMA_CPP_OVERRIDES). */
  file: string;
  /** 1-based; undefined when the problem has no place in the file (e.g. from the overrides variable). */
  line: number | undefined;
  column: number | undefined;
  /** Key path, e.g. ['instance', 'llama-3-8b', 'server', 'port']; empty for the file as a whole. */
  path: KeyPath;
  /** The key of the shared table ([instance.server] / [instance.control]) the value may have been written in instead. */
  sharedPath?: KeyPath;
  message: string;
  kind: ProblemKind;
  subject: ProblemSubject;
  /** fs problems of one instance do not stop the others (a missing model fails that instance only). */
  instance?: string;
}

/** A problem before it is placed in a file. */
export type DraftProblem = Omit<ConfigProblem, 'file' | 'line' | 'column'>;

/** `instance.llama-3-8b.server.port`; parts that are not bare TOML keys are quoted. */
export function keyPathString(p: KeyPath): string {
  return p
    .map((part) => (typeof part === 'number' ? `[${part}]` : /^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part)))
    .join('.')
    .replace(/\.\[/g, '[');
}

/**
 * Control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides, as
 * `\u{...}`: a key or value from a hostile file must not move the cursor, clear the screen, break the
 * one-line message, or reorder what a person reads in a terminal (CVE-2021-42574, "Trojan Source").
 */
// eslint-disable-next-line no-control-regex
export const UNSAFE_FOR_TERMINAL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINAL, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** `file:line:col key.path: message (expected X, got Y)`; without a place (overrides variable): `file: key.path: message`. */
export function formatProblem(p: ConfigProblem): string {
  const key = keyPathString(p.path);
  if (p.line === undefined) return escapeForTerminal(key ? `${p.file}: ${key}: ${p.message}` : `${p.file}: ${p.message}`);
  const place = `${p.file}:${p.line}:${p.column ?? 1}`;
  return escapeForTerminal(key ? `${place} ${key}: ${p.message}` : `${place}: ${p.message}`);
}

/** The JSON form (validate --json, the control socket): the typed fields plus the dotted key people read. */
export interface ProblemJson {
  file: string;
  /** Absent, like column, when the problem has no place in the file. */
  line?: number;
  column?: number;
  key: string;
  path: (string | number)[];
  message: string;
  kind: ProblemKind;
  subject: ProblemSubject;
  instance?: string;
}

export function problemJson(p: ConfigProblem): ProblemJson {
  return {
    file: p.file,
    ...(p.line !== undefined ? { line: p.line } : {}),
    ...(p.column !== undefined ? { column: p.column } : {}),
    key: keyPathString(p.path),
    path: [...p.path],
    message: p.message,
    kind: p.kind,
    subject: p.subject,
    ...(p.instance !== undefined ? { instance: p.instance } : {}),
  };
}

/** The inverse of problemJson, for a problem that crossed the control socket; undefined when it is not one. */
export function problemFromJson(value: unknown): ConfigProblem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Partial<Record<keyof ProblemJson, unknown>>;
  const place = (n: unknown) => (typeof n === 'number' ? n : undefined);
  if (typeof v.file !== 'string' || typeof v.message !== 'string' || !Array.isArray(v.path)) return undefined;
  if (!v.path.every((part) => typeof part === 'string' || typeof part === 'number')) return undefined;
  if (!(PROBLEM_KINDS as readonly unknown[]).includes(v.kind) || !(PROBLEM_SUBJECTS as readonly unknown[]).includes(v.subject)) return undefined;
  return {
    file: v.file,
    line: place(v.line),
    column: place(v.column),
    path: v.path as (string | number)[],
    message: v.message,
    kind: v.kind as ProblemKind,
    subject: v.subject as ProblemSubject,
    ...(typeof v.instance === 'string' ? { instance: v.instance } : {}),
  };
}

/** E_CONFIG_INVALID: a config file that cannot be used, with every problem, typed. */
export class ConfigInvalidError extends ConfigError {
  /** The config file that was read. */
  readonly file: string;
  readonly problems: ConfigProblem[];

  constructor(file: string, message: string, problems: ConfigProblem[], options: InferEntryErrorOptions = {}) {
    super('E_CONFIG_INVALID', message, { details: { file }, ...options });
    this.file = file;
    this.problems = problems;
  }

  /** The loader's error: the first problem in the message, `validate` in the hint. */
  static forFile(file: string, problems: ConfigProblem[]): ConfigInvalidError {
    const first = problems[0] ? formatProblem(problems[0]) : file;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    return new ConfigInvalidError(file, `invalid config ${file}: ${first}${more}`, problems, {
      hint: `run 'infer-entry validate ${file}' to see every problem`,
    });
  }
}

/** `N problem(s)`. */
export function problemCount(problems: readonly unknown[]): string {
  return `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
}
