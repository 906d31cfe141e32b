/**
 * `check-and-run`: what people type in `docker exec`. Validate first (nothing
 * is touched when the file is wrong), then hand the file to the running daemon
 * (src/client/daemon-handoff.ts) or, when there is none, supervise the
 * instances in the foreground (src/boot/foreground.ts).
 */
import path from 'node:path';
import type { Command } from './command.js';
import { ConfigInvalidError, formatProblem, problemCount } from '../config/problem.js';
import type { LoadedConfig } from '../config/types.js';
import { ENV } from '../env.js';
import { ConfigError, UsageError } from '../errors.js';
import { handOffToDaemon } from '../client/daemon-handoff.js';
import { socketIsLive } from '../control/socket-file.js';
import { superviseInForeground, type ForegroundOptions } from '../boot/foreground.js';
import { realDaemonDeps } from '../boot/real-deps.js';

/** What the foreground supervisor takes, with the file not yet validated and the names not yet resolved. */
export interface CheckAndRunOptions extends Omit<ForegroundOptions, 'file' | 'targets'> {
  file: string | undefined;
  names: string[];
  stderr: NodeJS.WritableStream;
}

/** Validate the file; print every problem and throw when it is invalid. */
export async function validateForRun(options: CheckAndRunOptions): Promise<{ file: string; config: LoadedConfig; targets: string[] }> {
  const given = options.file ?? options.env[ENV.CONFIG]?.trim();
  if (!given) {
    throw new ConfigError('E_NO_CONFIG', `no config file: --config is not given and ${ENV.CONFIG} is not set`, {
      hint: `run 'infer-entry check-and-run --config FILE' or set ${ENV.CONFIG}`,
    });
  }
  const file = path.resolve(given);
  let config: LoadedConfig;
  try {
    config = await options.deps.loadConfig(file, { env: options.env, paths: options.paths });
  } catch (error) {
    if (!(error instanceof ConfigInvalidError)) throw error;
    for (const problem of error.problems) options.stderr.write(`${formatProblem(problem)}\n`);
    throw new ConfigInvalidError(file, `${file} is invalid (${problemCount(error.problems)}); nothing was started`, error.problems, {
      hint: 'fix the problems above and run check-and-run again',
      cause: error,
    });
  }
  const known = config.instances.map((i) => i.name);
  for (const name of options.names) {
    if (!known.includes(name)) {
      throw new UsageError(`no instance named "${name}" in ${file}`, {
        hint: known.length > 0 ? `known instances: ${known.join(', ')}` : 'the file defines no instance',
      });
    }
  }
  const targets =
    options.names.length > 0 ? [...new Set(options.names)] : config.enable ? config.instances.filter((i) => i.enabled).map((i) => i.name) : [];
  return { file, config, targets };
}

export async function checkAndRun(options: CheckAndRunOptions): Promise<number> {
  const { file, config, targets } = await validateForRun(options);
  if (targets.length === 0) {
    options.stderr.write(
      `${file} is valid; no instance to start (${config.enable ? 'none is enabled' : '[master] enable = false'}) — name instances to start them anyway\n`,
    );
  }
  if (await socketIsLive(options.paths.socket)) {
    return handOffToDaemon({ socket: options.paths.socket, file, targets, json: options.json, stdout: options.stdout, stderr: options.stderr });
  }
  options.stderr.write('no daemon is running: supervising in the foreground until Ctrl-C\n');
  return superviseInForeground({ ...options, file, targets });
}

export const command: Command = {
  name: 'check-and-run',
  summary: 'validate a config, then start its instances (via the daemon, or in the foreground)',
  help: `Usage: infer-entry check-and-run [--config FILE] [--json] [NAME...]

Validates FILE (default: AUTO_INFER_LLAMA_CPP_CONFIG); an invalid file prints every problem and
starts nothing (exit 78). Then:
  - a daemon is running (the container's boot): it loads FILE (added instances start, removed
    ones stop, changed ones restart), starts the named instances (default: all enabled ones) that
    are stopped or failed, and this command prints their states once each is ready or failed.
    FILE replaces the daemon's config: when it serves another file, its instances that FILE does
    not define are stopped (they are named), and later reloads re-read FILE;
  - no daemon: supervises the named (default: enabled) instances in the foreground, with the
    control socket open for status/logs, until Ctrl-C.
Exit (with a daemon): 0 when every started instance became ready, 1 when one failed.
In the foreground the states are printed once they settle; Ctrl-C stops everything (exit 0).
No config file given or set, or an invalid one: 78; a NAME the file does not define: 64.

Options:
  -c, --config FILE   the config file
  --json              print the states as JSON`,
  options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
  allowPositionals: true,
  run(ctx) {
    return checkAndRun({
      file: typeof ctx.values.config === 'string' ? ctx.values.config : undefined,
      names: ctx.positionals,
      json: ctx.values.json === true,
      env: ctx.env,
      paths: ctx.paths,
      log: ctx.log,
      deps: realDaemonDeps(),
      stdout: ctx.stdout,
      stderr: ctx.stderr,
    });
  },
};
