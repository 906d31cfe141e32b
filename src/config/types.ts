/**
 * What the config module hands the supervisor: instances fully resolved
 * (argv built, env built, defaults applied, durations in milliseconds).
 * The supervisor never sees TOML; the config module never spawns.
 */
import type { InstanceControl, RouterSettings } from '../router/types.js';

import type { ArgOrigin } from './llama-arg-env.js';

export type RestartPolicy = 'always' | 'on-failure' | 'never';

export interface SupervisionSettings {
  restart: RestartPolicy;
  backoff: {
    /** First restart delay. Default 1 s. */
    initialMs: number;
    /** Cap. Default 60 s. */
    maxMs: number;
    /** Default 2. */
    multiplier: number;
    /** ± fraction, default 0.2. */
    jitter: number;
    /** Continuous readiness after which the backoff resets. Default 60 s. */
    resetAfterMs: number;
  };
  crashLoop: {
    /** Consecutive starts that never became ready → failed. Default 5. */
    maxUnreadyStarts: number;
    /** Restarts within windowMs → failed. Default 10 in 10 min. */
    maxRestarts: number;
    windowMs: number;
  };
  health: {
    /** Default '/health'. */
    path: string;
    /** Startup probe period once past the fast first second. Default 1 s. */
    startupIntervalMs: number;
    /** Give up starting after this long without readiness AND without new log output. Default 600 s. */
    startupTimeoutMs: number;
    /** Liveness period after ready. Default 10 s. */
    intervalMs: number;
    /** One probe's timeout. Default 5 s (startup probes use min(timeoutMs, 2 s)). */
    timeoutMs: number;
    /** Consecutive liveness failures → unhealthy → restart. Default 3. */
    failureThreshold: number;
  };
  /** SIGTERM → SIGKILL grace. Default 8 s (below Docker's 10 s). */
  stopGraceMs: number;
}

export interface InstanceSpec {
  name: string;
  /** `enabled = false` instances are known (status, check-and-run) but not started at boot. */
  enabled: boolean;
  /** Absolute path (or bare name looked up on PATH) of llama-server. */
  executable: string;
  /** argv after the executable. Never contains secrets (api_key goes to env). */
  args: string[];
  /** Variables set on top of the daemon's environment (CUDA_VISIBLE_DEVICES, LD_LIBRARY_PATH, LLAMA_API_KEY, ...). */
  env: Record<string, string>;
  /** Variables removed from the child's environment (LLAMA_SERVER_ROUTER_PORT). */
  envRemove: string[];
  /** The --host value given to llama-server (default 127.0.0.1, as llama-server's own default). */
  host: string;
  /** Where probes connect: host, with 0.0.0.0/:: mapped to loopback. */
  probeHost: string;
  /** The --port value (default 8080, as llama-server's own default). */
  port: number;
  /** Model path checked before spawning; undefined when the model comes from hf_repo/extra_args. */
  model: string | undefined;
  /** Secret values (api keys) to redact from any output. */
  secrets: string[];
  /** Append the child's output here too (existing log_file/log_dir contract). */
  logFile: string | undefined;
  /** The child's output also goes into the daemon's log as events (`daemon_log`); false needs a logFile. */
  daemonLog: boolean;
  supervision: SupervisionSettings;
  /** Stable digest of everything that affects the running process; reload restarts an instance when it changes. */
  fingerprint: string;
  /** Where the flags infer-entry always passes (--host, --port) got their values: config, LLAMA_ARG_* variable or default. */
  argOrigins?: ArgOrigin[];
  /** Router keys, only when [router] enable = true (never part of the fingerprint). */
  routing?: InstanceControl;
}

export interface LoadedConfig {
  /** Absolute path of the file, or a label such as '<text>' in tests. */
  file: string;
  /** [master].enable; false means launch nothing. */
  enable: boolean;
  instances: InstanceSpec[];
  /** [router], only when enable = true. */
  router?: RouterSettings;
}
