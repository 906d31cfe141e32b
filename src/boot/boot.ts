/**
 * `infer-entry boot` before the CMD: the install step (a failure is loud but
 * not fatal: the previous install keeps serving) and auto-serve (only when
 * AUTO_INFER_LLAMA_CPP_ON_BOOT is on AND a config file is named; an invalid
 * config is logged problem by problem and the daemon stays up for a fix +
 * `infer-entry reload`).
 */
import type { Logger } from 'pino';
import { withStep } from '../log.js';
import { ENV, readFlagLogged } from '../env.js';
import { InferEntryError } from '../errors.js';
import type { Paths } from '../paths.js';
import { logReloadError, type Daemon, type DaemonDeps } from './daemon.js';
import { runDaemon, type RunDaemonOptions } from './run-daemon.js';

export interface BootStepOptions {
  env: NodeJS.ProcessEnv;
  paths: Paths;
  log: Logger;
  deps: DaemonDeps;
}

export async function installStep(daemon: Daemon, options: BootStepOptions): Promise<void> {
  const log = withStep(options.log, 'install');
  try {
    const outcome = await options.deps.installOnBoot({ env: options.env, paths: options.paths, log });
    if (outcome) daemon.setInstallOutcome(outcome);
  } catch (error) {
    const e = error instanceof InferEntryError ? error : undefined;
    let previous: { sha256: string } | null = null;
    try {
      previous = await options.deps.readInstalledMarker(options.paths);
    } catch {
      previous = null;
    }
    const fallback = previous
      ? `continuing with the previous install (sha256 ${previous.sha256.slice(0, 12)}…) in ${options.paths.install}`
      : `continuing WITHOUT a llama.cpp install in ${options.paths.install}`;
    log.error(
      { code: e?.code ?? 'E_INSTALL_FAILED', hint: e?.hint, err: e ? undefined : error },
      `INSTALL FAILED: ${e ? e.message : String(error)} — ${fallback}`,
    );
  }
  // whatever happened above: the old image made these links on every boot, and scripts rely on them
  await options.deps.ensureConvenienceLinks({ paths: options.paths, log });
}

export async function autoServeStep(daemon: Daemon, options: BootStepOptions): Promise<void> {
  const log = withStep(options.log, 'config');
  const flag = readFlagLogged(ENV.ON_BOOT, log, options.env);
  const file = options.env[ENV.CONFIG]?.trim();
  if (!flag.enabled) {
    log.info(
      { reason: flag.reason },
      file
        ? `not starting instances: ${flag.reason}; ${ENV.CONFIG} alone never starts anything (use check-and-run or set ${ENV.ON_BOOT}=1)`
        : `not starting instances: ${flag.reason}`,
    );
    return;
  }
  if (!file) {
    log.warn(`${ENV.ON_BOOT} is on but ${ENV.CONFIG} is not set: nothing to start`);
    return;
  }
  try {
    await daemon.reload(file);
  } catch (error) {
    logReloadError(log, error, `auto-serve from ${file}`);
    log.error(`the daemon stays up without instances: fix ${file}, then run 'infer-entry reload'`);
    daemon.setConfigUnserved(`${file} could not be loaded; fix it, then run 'infer-entry reload'`);
  }
}

export type BootOptions = Omit<RunDaemonOptions, 'prepare'>;

export function runBoot(options: BootOptions): Promise<number> {
  options.log.info({ pid: process.pid, root: options.paths.root, with_cmd: options.cmd.length > 0 }, 'boot');
  return runDaemon({
    // A CMD on a terminal (`docker run -it IMAGE bash`) shares stdout with this log: keep the
    // servers' output out of the user's shell, as the old launcher's log files did.
    instanceOutputLevel: options.cmd.length > 0 && options.stdinIsTTY === true ? 'debug' : 'info',
    ...options,
    async prepare(daemon, stopRequested) {
      try {
        daemon.setStartingPhase('boot in progress: installing llama.cpp');
        await installStep(daemon, options);
        if (stopRequested()) return;
        daemon.setStartingPhase('boot in progress: loading the config');
        await autoServeStep(daemon, options);
      } finally {
        daemon.setStartingPhase(null);
      }
    },
  });
}
