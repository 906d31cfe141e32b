/**
 * `infer-entry <command> [options]`: finds the command, parses its options,
 * runs it, and turns errors into one line + a sysexits code. A user mistake
 * never prints a stack trace; a bug does (exit 70) so it can be reported.
 */
import { parseArgs } from 'node:util';
import { commands } from './commands.js';
import type { Command, CommandContext } from './command.js';
import { ExitCode, InferEntryError } from '../errors.js';
import type { Logger } from '../log.js';
import { resolvePaths } from '../paths.js';
import { VERSION } from '../version.js';
import { writeQuickLog } from './quick-log.js';

export interface CliIo {
  env?: NodeJS.ProcessEnv;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  log?: Logger;
}

const EXIT_CODES_HELP = `Exit codes:
  0   success              64  usage error          65  bad package archive / data
  66  missing input file   69  daemon not reachable 70  internal error (a bug)
  73  cannot create file   74  I/O error, disk full 75  busy (lock held), try again
  78  configuration error  1   other failure (e.g. 'health': not ready)`;

async function topHelp(): Promise<string> {
  const lines: string[] = [];
  for (const [name, load] of Object.entries(commands)) {
    const command = await load();
    lines.push(`  ${name.padEnd(15)} ${command.summary}`);
  }
  return `infer-entry ${VERSION} — llama.cpp installer and llama-server supervisor for inference containers

Usage: infer-entry <command> [options]
       infer-entry <command> --help

Commands:
${lines.join('\n')}

Global options:
  -h, --help       show help
  -V, --version    print the version

Environment: INFER_ENTRY_ROOT (default /soft/app) relocates every path; see README.md.

${EXIT_CODES_HELP}
`;
}

function commandHelp(command: Command): string {
  return `${command.help.trimEnd()}\n\n${EXIT_CODES_HELP}\n`;
}

export async function runCli(argv: string[], io: CliIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const [name, ...args] = argv;

  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const target = name === 'help' ? args[0] : undefined;
    if (target && commands[target]) {
      stdout.write(commandHelp(await commands[target]!()));
    } else {
      stdout.write(await topHelp());
    }
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (name === '-V' || name === '--version' || name === 'version') {
    stdout.write(`${VERSION}\n`);
    return ExitCode.OK;
  }
  const load = commands[name];
  if (!load) {
    const known = Object.keys(commands).join(', ');
    stderr.write(`infer-entry: unknown command '${name}' (known: ${known}) — run 'infer-entry --help'\n`);
    return ExitCode.USAGE;
  }
  const command = await load();

  let ctx: Omit<CommandContext, 'log'>;
  try {
    const dashDash = args.indexOf('--');
    const own = command.acceptsRest && dashDash >= 0 ? args.slice(0, dashDash) : args;
    const rest = command.acceptsRest && dashDash >= 0 ? args.slice(dashDash + 1) : [];
    if (own.includes('-h') || own.includes('--help')) {
      stdout.write(commandHelp(command));
      return ExitCode.OK;
    }
    const parsed = parseArgs({
      args: own,
      options: command.options,
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
    ctx = {
      values: parsed.values as CommandContext['values'],
      positionals: parsed.positionals,
      rest,
      env,
      paths: resolvePaths(env),
      stdout,
      stderr,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    stderr.write(`infer-entry ${name}: ${message} — run 'infer-entry ${name} --help'\n`);
    return ExitCode.USAGE;
  }

  try {
    // pino and the logging setup are loaded only by a command that gets past its quick answer
    const destination = command.logToStdout ? 1 : 2;
    let made: Promise<Logger> | undefined;
    const logger = (): Promise<Logger> => (made ??= io.log ? Promise.resolve(io.log) : import('../log.js').then((m) => m.createLogger({ destination, base: { step: command.name } })));
    try {
      if (command.quick) {
        const code = await command.quick({ ...ctx, logLines: (lines) => writeQuickLog(lines, { env, destination, step: command.name, logger, useLogger: io.log !== undefined }) });
        if (code !== null) return code;
      }
      // Outside the usage-error catch: a bad INFER_ENTRY_LOG_LEVEL is a config error (78), not a usage one.
      return await command.run({ ...ctx, log: await logger() });
    } finally {
      // also after a quick answer that fell back to the real logger (a terminal, pretty output)
      if (made !== undefined && io.log === undefined) await (await import('../log.js')).flushLog(await made, LOG_FLUSH_TIMEOUT_MS);
    }
  } catch (error) {
    return reportError(error, name, stderr);
  }
}

/** How long the end of a command waits for its last log lines to be written (a reader that stalls). */
const LOG_FLUSH_TIMEOUT_MS = 5_000;

/** Print an error the way users should see it; return the exit code. */
export function reportError(error: unknown, commandName: string, stderr: NodeJS.WritableStream): number {
  if (error instanceof InferEntryError) {
    stderr.write(`infer-entry ${commandName}: ${error.toUserString()} [${error.code}]\n`);
    return error.exitCode;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  stderr.write(`infer-entry ${commandName}: internal error (please report it): ${text}\n`);
  return ExitCode.SOFTWARE;
}
