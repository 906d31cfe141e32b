/**
 * The long-lived part shared by `boot` and a foreground `check-and-run`: the
 * supervisor, the control socket, metrics, the optional status listener, and
 * reload (an invalid config changes nothing and says why).
 */
import type { Logger } from 'pino';
import { argWarnings } from '../config/llama-arg-env.js';
import { ConfigInvalidError, formatProblem, problemCount } from '../config/problem.js';
import type { LoadedConfig } from '../config/types.js';
import { ENV } from '../env.js';
import { withStep } from '../log.js';
import { ConfigError, InferEntryError, TempFailError } from '../errors.js';
import type { InstallOutcome } from '../installer/types.js';
import type { Paths } from '../paths.js';
import type { SupervisorApi } from '../supervisor/types.js';
import type { ReloadBody } from '../control/api.js';
import { createDaemonMetrics, type DaemonMetrics, type InstallInfo } from '../control/metrics.js';
import { lazyRouterHost } from './lazy-router.js';
import { parseStatusAddr, startControlServer, startStatusListener, type Listener } from '../control/server.js';
import type { ControlDeps } from '../control/routes.js';

/** The modules the daemon drives, injectable so unit tests run without the real supervisor or installer. */
export interface DaemonDeps {
  createSupervisor(options: { log: Logger; env: NodeJS.ProcessEnv; outputLevel?: 'info' | 'debug' }): SupervisorApi;
  /** Off the event loop in the real daemon (a child process); `signal` abandons the load when the daemon stops. */
  loadConfig(file: string, options: { env: NodeJS.ProcessEnv; paths: Paths; signal?: AbortSignal }): Promise<LoadedConfig>;
  installOnBoot(options: { env: NodeJS.ProcessEnv; paths: Paths; log: Logger }): Promise<InstallOutcome | null>;
  readInstalledMarker(paths: Paths): Promise<{ sha256: string; installed_at_unix: number; duration_ms?: number } | null>;
  /** Make `llama-cpp/check-and-run-llama-cpp.sh` and its siblings exist and resolve; never throws. */
  ensureConvenienceLinks(options: { paths: Paths; log: Logger }): Promise<unknown>;
}

export interface Daemon {
  supervisor: SupervisorApi;
  metrics: DaemonMetrics;
  /** Load `file` (or the current config file) and apply it as a diff. */
  reload(file?: string, transform?: (config: LoadedConfig) => LoadedConfig): Promise<ReloadBody>;
  configFile(): string | null;
  /** While set, /readyz answers not ready (boot is installing or loading the config). */
  setStartingPhase(phase: string | null): void;
  /**
   * Boot was asked to serve a config it could not load: /readyz stays not ready (with this reason)
   * until a reload succeeds, so a HEALTHCHECK never calls an unserved container healthy.
   */
  setConfigUnserved(reason: string): void;
  /** Remember this boot's install so /metrics reports its duration. */
  setInstallOutcome(outcome: InstallOutcome): void;
  /** Stop every instance, then the listeners. Idempotent; `immediate` skips the grace period. */
  close(options?: { immediate?: boolean }): Promise<void>;
}

export interface StartDaemonOptions {
  env: NodeJS.ProcessEnv;
  paths: Paths;
  log: Logger;
  deps: DaemonDeps;
  /** Level of the instances' output lines in this log (boot with an interactive CMD: debug). */
  instanceOutputLevel?: 'info' | 'debug';
}

/** Log a failed reload the way a user fixes it: one error line per problem, then what to do. */
export function logReloadError(log: Logger, error: unknown, what: string): void {
  if (error instanceof InferEntryError) {
    if (error instanceof ConfigInvalidError) for (const problem of error.problems) log.error({ step: 'config' }, formatProblem(problem));
    log.error({ step: 'config', code: error.code, hint: error.hint }, `${what}: ${error.message}`);
  } else {
    log.error({ step: 'config', err: error }, `${what} failed`);
  }
}

function stoppingError(): TempFailError {
  return new TempFailError('E_DAEMON_STOPPING', 'the daemon is stopping; the config was not loaded', {
    hint: 'start the container (or boot) again',
  });
}

export async function startDaemon(options: StartDaemonOptions): Promise<Daemon> {
  const { env, paths, log, deps } = options;
  const supervisor = deps.createSupervisor({ log, env, outputLevel: options.instanceOutputLevel ?? 'info' });
  let current: string | null = null;
  let bootInstall: InstallOutcome | null = null;

  const installInfo = async (): Promise<InstallInfo | null> => {
    const marker = await deps.readInstalledMarker(paths);
    if (!marker) return null;
    const duration = bootInstall && bootInstall.sha256 === marker.sha256 && bootInstall.status === 'installed' ? bootInstall.durationMs : marker.duration_ms;
    return { sha256: marker.sha256, installedAtUnix: marker.installed_at_unix, durationMs: typeof duration === 'number' ? duration : null };
  };
  const metrics = createDaemonMetrics({ supervisor, installInfo });
  const router = lazyRouterHost({ supervisor, log, env });

  let closing: Promise<void> | undefined;
  // Abandons a config still being loaded when the daemon stops: nothing would apply it.
  const stopLoading = new AbortController();

  // SIGHUP, a socket request and boot may reload at once: the supervisor applies one config at a
  // time, and `current` is set after each, so it always names the config that is running.
  const reload: Daemon['reload'] = async (file, transform) => {
    if (closing) throw stoppingError();
    const fromEnv = env[ENV.CONFIG]?.trim();
    const target = file ?? current ?? (fromEnv ? fromEnv : undefined);
    if (target === undefined) {
      throw new ConfigError('E_NO_CONFIG', 'no config file to load: none was loaded yet and AUTO_INFER_LLAMA_CPP_CONFIG is not set', {
        hint: `set ${ENV.CONFIG} for the daemon, or run 'infer-entry check-and-run --config FILE'`,
      });
    }
    let config: LoadedConfig;
    try {
      config = await deps.loadConfig(target, { env, paths, signal: stopLoading.signal });
    } catch (error) {
      if (stopLoading.signal.aborted) throw stoppingError();
      if (!(error instanceof ConfigInvalidError)) throw error;
      throw new ConfigInvalidError(target, `${target} is invalid (${problemCount(error.problems)}); nothing was changed`, error.problems, {
        hint: "fix the file and run 'infer-entry reload' again",
        cause: error,
      });
    }
    if (closing) throw stoppingError();
    for (const w of argWarnings(config.instances)) withStep(log, 'config').warn({ instance: w.instance, variable: w.variable }, w.message);
    const applied = transform ? transform(config) : config;
    const result = await supervisor.reload(applied);
    // The instances are served either way; a router that cannot listen is logged, not fatal.
    await router.apply(applied).catch((error: unknown) => log.error({ step: 'router', err: error }, `router not started: ${(error as Error).message}`));
    current = target;
    configUnserved = null;
    return { file: target, result };
  };

  let startingPhase: string | null = null;
  let configUnserved: string | null = null;
  const controlDeps: ControlDeps = {
    supervisor,
    metrics,
    log,
    reload: (file) =>
      reload(file).catch((error: unknown) => {
        logReloadError(log, error, 'reload requested over the control socket');
        throw error;
      }),
    configFile: () => current,
    startingPhase: () => startingPhase ?? configUnserved,
  };
  const listeners: Listener[] = [];
  try {
    listeners.push(await startControlServer(paths.socket, controlDeps));
  } catch (error) {
    metrics.close();
    await supervisor.stopAll({ immediate: true });
    throw error;
  }
  const statusAddr = env[ENV.STATUS_ADDR]?.trim();
  if (statusAddr) {
    try {
      listeners.push(await startStatusListener(parseStatusAddr(statusAddr), controlDeps));
    } catch (error) {
      // An optional probe endpoint must not take PID 1 down; the control socket still works.
      const e = error instanceof InferEntryError ? error : undefined;
      log.error({ code: e?.code, hint: e?.hint }, `status listener not started: ${e ? e.message : String(error)}`);
    }
  }

  let immediateRequested = false;
  return {
    supervisor,
    metrics,
    reload,
    configFile: () => current,
    setStartingPhase: (phase) => {
      startingPhase = phase;
    },
    setConfigUnserved: (reason) => {
      configUnserved = reason;
    },
    setInstallOutcome: (outcome) => {
      bootInstall = outcome;
    },
    close(closeOptions = {}) {
      if (closing) {
        if (closeOptions.immediate && !immediateRequested) {
          immediateRequested = true;
          // A second stop request while the graceful one waits: kill what is left now.
          void supervisor.stopAll({ immediate: true }).catch(() => undefined);
        }
        return closing;
      }
      immediateRequested = closeOptions.immediate === true;
      stopLoading.abort();
      closing = (async () => {
        try {
          // A reload still loading its file sees `closing` and applies nothing; one being applied is
          // waited for by stopAll, which then stops what it started.
          // Waiting requests are answered 503 before their instances go away.
          await router.close();
          await supervisor.stopAll(closeOptions.immediate ? { immediate: true } : {});
        } finally {
          metrics.close();
          await Promise.all(listeners.map((l) => l.close()));
        }
      })();
      return closing;
    },
  };
}
