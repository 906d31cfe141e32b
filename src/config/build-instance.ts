/**
 * One validated instance → InstanceSpec: the argv (old launcher's mapping
 * rules, kept exactly), the child's environment, the resolved supervision
 * settings, and the per-instance semantic problems.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { DEFAULT_LOG_DIR, DEFAULT_PORT, DEFAULT_SUPERVISION } from './defaults.js';
import { parseDuration } from './duration.js';
import { DEFAULTED_ARGS, portProblem, resolveDefaultedArg, type ConfigValue, type DefaultedArg } from './llama-arg-env.js';
import type { Plain } from './merge.js';
import type { InstanceSpec, SupervisionSettings } from './types.js';

export interface DraftProblem {
  path: (string | number)[];
  message: string;
  kind: 'schema' | 'semantic';
  instance?: string;
}

export interface BuildInput {
  name: string;
  /** Merged `[instance.control]` + `[instance.NAME.control]`. */
  control: Plain;
  /** Merged `[instance.server]` + `[instance.NAME.server]`. */
  server: Plain;
  /** Where a merged server key was written: the instance's table or the shared one. */
  serverKeyPath(key: string): (string | number)[];
  executable: string;
  /** Directories to put before the daemon's LD_LIBRARY_PATH. */
  libraryDirs: string[];
  env: NodeJS.ProcessEnv;
}

export const INSTANCE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Keys that never become flags: they go to the environment or are handled specially. */
const SECRET_ENV: Record<string, string> = { api_key: 'LLAMA_API_KEY', hf_token: 'HF_TOKEN' };
const MODEL_SOURCE_KEYS = ['model', 'hf_repo', 'model_url', 'docker_repo'];
const MODEL_FLAGS = ['-m', '--model', '-mu', '--model-url', '-hf', '-hfr', '--hf-repo', '-dr', '--docker-repo'];
const SECRET_FLAGS = ['--api-key', '--hf-token', '-hft'];

export const flagOf = (key: string) => `--${key.replace(/_/g, '-')}`;

/** Value of `--flag X` / `--flag=X` in a raw argument list (the last one wins, as in llama-server). */
function findFlag(args: readonly string[], flags: readonly string[]): { present: boolean; value: string | undefined } {
  let present = false;
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0 && flags.includes(arg.slice(0, eq))) {
      present = true;
      value = arg.slice(eq + 1);
    } else if (flags.includes(arg)) {
      present = true;
      value = args[i + 1];
      i++;
    }
  }
  return { present, value };
}

function supervisionOf(control: Plain): SupervisionSettings {
  const d = DEFAULT_SUPERVISION;
  const ms = (key: string, fallback: number) => parseDuration(control[key]) ?? fallback;
  const num = (key: string, fallback: number) => (typeof control[key] === 'number' ? (control[key] as number) : fallback);
  return {
    restart: (control.restart as SupervisionSettings['restart'] | undefined) ?? d.restart,
    backoff: {
      initialMs: ms('restart_backoff_initial', d.backoff.initialMs),
      maxMs: ms('restart_backoff_max', d.backoff.maxMs),
      multiplier: num('restart_backoff_multiplier', d.backoff.multiplier),
      jitter: num('restart_backoff_jitter', d.backoff.jitter),
      resetAfterMs: ms('restart_backoff_reset_after', d.backoff.resetAfterMs),
    },
    crashLoop: {
      maxUnreadyStarts: num('crash_loop_max_unready_starts', d.crashLoop.maxUnreadyStarts),
      maxRestarts: num('crash_loop_max_restarts', d.crashLoop.maxRestarts),
      windowMs: ms('crash_loop_window', d.crashLoop.windowMs),
    },
    health: {
      path: typeof control.health_path === 'string' ? control.health_path : d.health.path,
      startupIntervalMs: ms('health_startup_interval', d.health.startupIntervalMs),
      startupTimeoutMs: ms('health_startup_timeout', d.health.startupTimeoutMs),
      intervalMs: ms('health_interval', d.health.intervalMs),
      timeoutMs: ms('health_timeout', d.health.timeoutMs),
      failureThreshold: num('health_failure_threshold', d.health.failureThreshold),
    },
    stopGraceMs: ms('stop_grace_period', d.stopGraceMs),
  };
}

/** Where probes connect: a wildcard listen address is reached through loopback. */
export function probeHostOf(host: string): string {
  const h = host.trim();
  if (h === '' || h === '0.0.0.0') return '127.0.0.1';
  if (h === '::' || h === '[::]') return '::1';
  return h.replace(/^\[(.*)\]$/, '$1');
}

function gpuEnv(gpuIds: unknown): Record<string, string> {
  if (gpuIds === undefined || gpuIds === 'all') return {};
  if (gpuIds === 'none') return { CUDA_VISIBLE_DEVICES: '' };
  return { CUDA_VISIBLE_DEVICES: String(gpuIds).replace(/\s+/g, '') };
}

function logFileOf(name: string, control: Plain): string | undefined {
  if (typeof control.log_file === 'string') return control.log_file === '' ? undefined : control.log_file;
  const dir = typeof control.log_dir === 'string' ? control.log_dir : DEFAULT_LOG_DIR;
  return dir === '' ? undefined : path.join(dir, `llama-server-${name}.log`);
}

export function buildInstance(input: BuildInput): { spec: InstanceSpec; problems: DraftProblem[] } {
  const { name, control, server } = input;
  const problems: DraftProblem[] = [];
  const problem = (p: (string | number)[], message: string) => problems.push({ path: p, message, kind: 'semantic', instance: name });

  if (!INSTANCE_NAME_PATTERN.test(name)) {
    problem(['instance', name], `instance name ${JSON.stringify(name)} is not usable (expected letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64 characters)`);
  }

  const extra = Array.isArray(server.extra_args) ? server.extra_args.map(String) : [];
  const extraPath = input.serverKeyPath('extra_args');
  const args: string[] = [...extra];
  const env: Record<string, string> = { ...gpuEnv(control.gpu_ids) };
  const secrets: string[] = [];

  for (const flag of SECRET_FLAGS) {
    if (findFlag(extra, [flag]).present) {
      problem(extraPath, `${flag} must not be on the command line, where every process listing shows it (expected server.${flag === '--api-key' ? 'api_key' : 'hf_token'} = "...", which infer-entry passes through the environment)`);
    }
  }

  // host/port/model may come from extra_args; the typed key and the raw flag must not both be there.
  const fromExtra = {
    host: findFlag(extra, ['--host']),
    port: findFlag(extra, ['--port']),
    model: findFlag(extra, ['-m', '--model']),
  };
  for (const key of ['host', 'port', 'model'] as const) {
    if (fromExtra[key].present && server[key] !== undefined) {
      problem(extraPath, `--${key} is given twice: by ${key} = ${JSON.stringify(server[key])} and in extra_args (expected one of them)`);
    }
  }

  for (const [key, value] of Object.entries(server)) {
    if (key === 'extra_args') continue;
    // `api-key = "..."` would otherwise slip through as an unknown flag onto argv.
    const secretVar = SECRET_ENV[key.replace(/-/g, '_')];
    if (secretVar !== undefined) {
      if (typeof value === 'string' && value !== '') {
        env[secretVar] = value;
        secrets.push(value);
      }
      continue;
    }
    const flag = flagOf(key);
    if (key === 'flash_attn' && typeof value === 'boolean') {
      args.push(flag, value ? 'on' : 'off');
    } else if (typeof value === 'boolean') {
      if (value) args.push(flag);
    } else if (Array.isArray(value)) {
      for (const item of value) args.push(flag, String(item));
    } else if (value !== undefined && value !== null) {
      args.push(flag, String(value));
    }
  }

  // --host/--port are always passed, so the probes hit the address llama-server really uses; a
  // LLAMA_ARG_HOST/LLAMA_ARG_PORT the child would see replaces the default we would pass.
  const childEnv = { ...input.env, ...env };
  const configValues: Record<DefaultedArg['key'], ConfigValue | undefined> = {
    host: typeof server.host === 'string' ? { value: server.host, source: 'config' } : fromExtra.host.present ? { value: fromExtra.host.value ?? '', source: 'extra_args' } : undefined,
    port: typeof server.port === 'number' ? { value: String(server.port), source: 'config' } : fromExtra.port.present ? { value: fromExtra.port.value ?? '', source: 'extra_args' } : undefined,
  };
  const origins = DEFAULTED_ARGS.map((arg) => resolveDefaultedArg(arg, configValues[arg.key], childEnv));
  for (const origin of origins) {
    if (origin.source === 'environment' || origin.source === 'default') args.push(origin.flag, origin.value);
    const bad = portProblem(origin);
    if (bad) problem(['instance', name, 'server', 'port'], bad);
  }
  const host = origins.find((o) => o.key === 'host')!.value;
  const portOrigin = origins.find((o) => o.key === 'port')!;
  if (portOrigin.source === 'extra_args') {
    const raw = portOrigin.value;
    const parsed = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(parsed >= 1 && parsed <= 65535)) {
      problem(extraPath, `--port in extra_args is not a port (expected an integer 1-65535, got ${JSON.stringify(raw)})`);
    }
  }
  const port = /^\d+$/.test(portOrigin.value) ? Number(portOrigin.value) : DEFAULT_PORT;

  const model = typeof server.model === 'string' ? server.model : fromExtra.model.present ? fromExtra.model.value : undefined;
  const hasModelSource = MODEL_SOURCE_KEYS.some((k) => typeof server[k] === 'string' && server[k] !== '') || findFlag(extra, MODEL_FLAGS).present;
  if (!hasModelSource) {
    problem(['instance', name, 'server', 'model'], 'no model (expected model = "/path/to/model.gguf", or hf_repo, model_url, or a --model/-hf flag in extra_args)');
  }

  if (input.libraryDirs.length > 0) {
    const inherited = input.env.LD_LIBRARY_PATH;
    env.LD_LIBRARY_PATH = [...input.libraryDirs, ...(inherited ? [inherited] : [])].join(':');
  }

  const supervision = supervisionOf(control);
  if (supervision.backoff.initialMs > supervision.backoff.maxMs) {
    problem(['instance', name, 'control', 'restart_backoff_initial'], `restart_backoff_initial (${supervision.backoff.initialMs} ms) is longer than restart_backoff_max (${supervision.backoff.maxMs} ms) (expected initial ≤ max)`);
  }
  for (const [key, value] of [
    ['health_interval', supervision.health.intervalMs],
    ['health_startup_interval', supervision.health.startupIntervalMs],
    ['health_timeout', supervision.health.timeoutMs],
  ] as const) {
    if (value <= 0) problem(['instance', name, 'control', key], `${key} must be longer than 0 (got ${JSON.stringify(control[key])})`);
  }

  const envRemove = ['LLAMA_SERVER_ROUTER_PORT'];
  const logFile = logFileOf(name, control);
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ executable: input.executable, args, env, envRemove, logFile, host, port, supervision }))
    .digest('hex');

  return {
    spec: {
      name,
      enabled: control.enabled !== false,
      executable: input.executable,
      args,
      env,
      envRemove,
      host,
      probeHost: probeHostOf(host),
      port,
      model,
      secrets,
      logFile,
      supervision,
      fingerprint,
      argOrigins: origins,
    },
    problems,
  };
}
