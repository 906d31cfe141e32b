/**
 * Supervision defaults (issue 5 "Defaults"). One table, used for the
 * resolved SupervisionSettings and, as text, for the JSON Schema annotations
 * and docs, so the three never disagree.
 */
import type { SupervisionSettings } from './types.js';

export const DEFAULT_SUPERVISION: SupervisionSettings = {
  restart: 'always',
  backoff: { initialMs: 1_000, maxMs: 60_000, multiplier: 2, jitter: 0.2, resetAfterMs: 60_000 },
  crashLoop: { maxUnreadyStarts: 5, maxRestarts: 10, windowMs: 600_000 },
  health: {
    path: '/health',
    startupIntervalMs: 1_000,
    startupTimeoutMs: 600_000,
    intervalMs: 10_000,
    timeoutMs: 5_000,
    failureThreshold: 3,
  },
  stopGraceMs: 8_000,
};

/** The same defaults as the user writes them in `control`. */
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

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;
/** The old launcher's default log directory; each instance logs to <log_dir>/llama-server-<name>.log. */
export const DEFAULT_LOG_DIR = '/tmp';
