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
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}
