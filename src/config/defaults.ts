/**
 * Defaults of the config, written once, as a user would write them. The
 * resolved SupervisionSettings, the JSON Schema annotations and the docs all
 * derive from these tables, so they never disagree.
 */
import { durationMs } from './duration.js';
import type { SupervisionSettings } from './types.js';

/** The supervision keys of `control` and their defaults. */
export const DEFAULT_SUPERVISION_TEXT = {
  restart: 'always',
  restart_backoff_initial: '1s',
  restart_backoff_max: '60s',
  restart_backoff_multiplier: 2,
  restart_backoff_jitter: 0.2,
  restart_backoff_reset_after: '60s',
  crash_loop_max_unready_starts: 5,
  crash_loop_max_restarts: 10,
  crash_loop_window: '10m',
  health_path: '/health',
  health_startup_interval: '1s',
  health_startup_timeout: '600s',
  health_interval: '10s',
  health_timeout: '5s',
  health_failure_threshold: 3,
  stop_grace_period: '8s',
} as const;

/** The supervision keys of `control`, each with a value (the user's, else the default). */
export type SupervisionControl = {
  restart: SupervisionSettings['restart'];
  health_path: string;
} & {
  [K in Exclude<keyof typeof DEFAULT_SUPERVISION_TEXT, 'restart' | 'health_path'>]: (typeof DEFAULT_SUPERVISION_TEXT)[K] extends string
    ? string | number
    : number;
};

/** `control` keys → the settings the supervisor uses (durations in milliseconds). */
export function supervisionSettings(c: SupervisionControl): SupervisionSettings {
  return {
    restart: c.restart,
    backoff: {
      initialMs: durationMs(c.restart_backoff_initial),
      maxMs: durationMs(c.restart_backoff_max),
      multiplier: c.restart_backoff_multiplier,
      jitter: c.restart_backoff_jitter,
      resetAfterMs: durationMs(c.restart_backoff_reset_after),
    },
    crashLoop: {
      maxUnreadyStarts: c.crash_loop_max_unready_starts,
      maxRestarts: c.crash_loop_max_restarts,
      windowMs: durationMs(c.crash_loop_window),
    },
    health: {
      path: c.health_path,
      startupIntervalMs: durationMs(c.health_startup_interval),
      startupTimeoutMs: durationMs(c.health_startup_timeout),
      intervalMs: durationMs(c.health_interval),
      timeoutMs: durationMs(c.health_timeout),
      failureThreshold: c.health_failure_threshold,
    },
    stopGraceMs: durationMs(c.stop_grace_period),
  };
}

export const DEFAULT_SUPERVISION: SupervisionSettings = supervisionSettings(DEFAULT_SUPERVISION_TEXT);

/** `master.enable` and `control.enabled`: a file or instance runs unless it says otherwise. */
export const DEFAULT_ENABLED = true;

/** llama-server's own defaults, passed explicitly so the probes know the address. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;
/** The old launcher's default log directory; each instance logs to <log_dir>/llama-server-<name>.log. */
export const DEFAULT_LOG_DIR = '/tmp';
/** `daemon_log`: an instance's output is in the daemon's log (`docker logs`) as well as in its log file. */
export const DEFAULT_DAEMON_LOG = true;
/** `gpu_ids` default: CUDA_VISIBLE_DEVICES as the container has it. */
export const DEFAULT_GPU_IDS = 'all';
