/**
 * `check-and-run`: what people type in `docker exec`. Validate first (nothing
 * is touched when the file is wrong), then hand the file to the running daemon
 * or, when there is none, supervise the instances in the foreground.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/types.js';
import { ENV } from '../env.js';
import { ConfigError, ExitCode, UsageError } from '../errors.js';
import type { Paths } from '../paths.js';
import type { InstanceStatus } from '../supervisor/types.js';
import { ROUTES, type HealthBody, type InstancesBody, type ReloadBody } from '../control/api.js';
import { requestJson } from '../control/client.js';
import { formatStatusTable, writeReloadProblems } from '../control/format.js';
import { socketIsLive } from '../control/socket-file.js';
import { configProblems, type DaemonDeps } from './daemon.js';
import { runDaemon } from './run-daemon.js';
import type { SignalSource } from './signals.js';

export interface CheckAndRunOptions {
  file: string | undefined;
  names: string[];
  json: boolean;
  env: NodeJS.ProcessEnv;
  paths: Paths;
  log: Logger;
  deps: DaemonDeps;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signals?: SignalSource;
}

/** States a named instance is started from; a start during a backoff skips the rest of the wait. */
const STARTABLE = new Set(['stopped', 'failed', 'backoff']);

/** Validate the file; print every problem and throw when it is invalid. */
export async function validate(options: CheckAndRunOptions): Promise<{ file: string; config: LoadedConfig; targets: string[] }> {
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
    const problems = configProblems(error, options.deps);
    if (problems === undefined) throw error;
    for (const problem of problems) options.stderr.write(`${problem}\n`);
    throw new ConfigError('E_CONFIG_INVALID', `${file} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}); nothing was started`, {
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

function report(options: CheckAndRunOptions, statuses: InstanceStatus[]): number {
  options.stdout.write(options.json ? `${JSON.stringify({ instances: statuses }, null, 2)}\n` : formatStatusTable(statuses));
  return statuses.every((s) => s.state === 'ready') ? ExitCode.OK : ExitCode.FAILURE;
}

export async function checkAndRun(options: CheckAndRunOptions): Promise<number> {
  const { file, config, targets } = await validate(options);
  if (targets.length === 0) {
    options.stderr.write(
      `${file} is valid; no instance to start (${config.enable ? 'none is enabled' : '[master] enable = false'}) — name instances to start them anyway\n`,
    );
  }
  if (await socketIsLive(options.paths.socket)) return viaDaemon(options, file, targets);
  return foreground(options, file, targets);
}

async function viaDaemon(options: CheckAndRunOptions, file: string, targets: string[]): Promise<number> {
  const socket = options.paths.socket;
  // Loading another file replaces the daemon's config: what it served and is not in `file` stops.
  const previous = (await requestJson<HealthBody>(socket, 'GET', ROUTES.healthz)).body.config;
  let reloaded: ReloadBody;
  try {
    reloaded = (await requestJson<ReloadBody>(socket, 'POST', ROUTES.reload, { file })).body;
  } catch (error) {
    // The daemon reads the file with its own environment (overrides) and permissions: show its problems too.
    writeReloadProblems(error, options.stderr);
    throw error;
  }
  const r = reloaded.result;
  options.stderr.write(
    `daemon loaded ${file}: added ${r.added.length}, removed ${r.removed.length}, changed ${r.changed.length}, unchanged ${r.unchanged.length}\n`,
  );
  if (typeof previous === 'string' && previous !== file) {
    options.stderr.write(`note: the daemon was serving ${previous}; it now serves ${file} ('infer-entry reload' and SIGHUP re-read ${file})\n`);
  }
  if (r.removed.length > 0) options.stderr.write(`stopped (not in ${file}): ${r.removed.join(', ')}\n`);
  const { body: current } = await requestJson<InstancesBody>(socket, 'GET', ROUTES.instances);
  for (const name of targets) {
    const status = current.instances.find((s) => s.name === name);
    if (!status || STARTABLE.has(status.state)) await requestJson<InstanceStatus>(socket, 'POST', `${ROUTES.instances}/${encodeURIComponent(name)}/start`);
  }
  if (targets.length === 0) return ExitCode.OK;
  const { body: settled } = await requestJson<InstancesBody>(socket, 'POST', ROUTES.wait, { names: targets });
  return report(options, settled.instances);
}

async function foreground(options: CheckAndRunOptions, file: string, targets: string[]): Promise<number> {
  const wanted = new Set(targets);
  options.stderr.write('no daemon is running: supervising in the foreground until Ctrl-C\n');
  return runDaemon({
    env: options.env,
    paths: options.paths,
    log: options.log,
    deps: options.deps,
    cmd: [],
    ...(options.signals ? { signals: options.signals } : {}),
    async prepare(daemon, stopRequested) {
      // Only the chosen instances start; the others stay listed as stopped (startable with `start`).
      await daemon.reload(file, (config) => ({
        ...config,
        enable: config.enable || targets.length > 0,
        instances: config.instances.map((i) => ({ ...i, enabled: wanted.has(i.name) })),
      }));
      if (targets.length === 0) return;
      await daemon.supervisor.waitSettled(targets);
      if (stopRequested()) return; // Ctrl-C before they settled: they are being stopped, nothing to report
      const names = new Set(targets);
      report(options, daemon.supervisor.list().filter((s) => names.has(s.name)));
    },
  });
}
