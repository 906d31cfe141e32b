/**
 * The shape every CLI command has. One file per command under src/cli/;
 * src/cli/commands.ts lists them. Options use node:util.parseArgs.
 */
import type { ParseArgsConfig } from 'node:util';
import type { Logger } from 'pino';
import type { Paths } from '../paths.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandContext {
  /** Parsed options (`--foo` → values.foo). */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  /** Arguments after a literal `--` (boot's CMD). */
  rest: string[];
  env: NodeJS.ProcessEnv;
  paths: Paths;
  log: Logger;
  /** Command output (tables, JSON) — never logs. */
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** A line for the command's log (info, the command's step), from an answer given without a logger. */
export interface QuickLogLine {
  fields: Record<string, unknown>;
  msg: string;
}

type QuickContext = Omit<CommandContext, 'log'> & {
  /** Logs the lines as the command's logger would, creating it only when they need it. */
  logLines(lines: readonly QuickLogLine[]): Promise<void>;
};

export interface Command {
  name: string;
  /** One line for `infer-entry --help`. */
  summary: string;
  /** Full help text printed by `infer-entry NAME --help`. */
  help: string;
  options: OptionSpec;
  allowPositionals?: boolean;
  /** Accept `-- CMD ARGS...` and hand it over as ctx.rest. */
  acceptsRest?: boolean;
  /** Logs go to stdout for long-running commands (boot), stderr otherwise. */
  logToStdout?: boolean;
  /**
   * The common case answered before a logger exists (so pino is not loaded): the exit code, or
   * null to leave it to run(). The warm `install` of every container start uses it.
   */
  quick?(ctx: QuickContext): Promise<number | null>;
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}
