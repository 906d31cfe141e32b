/**
 * One validated instance → InstanceSpec: the argv (old launcher's mapping
 * rules, kept exactly), the child's environment, the resolved supervision
 * settings, and the per-instance semantic problems. Its input is the zod-typed
 * result of the schema, merged per instance: no value is re-checked here.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { SECRET_SETTINGS, secretSettingOf } from '../redact.js';
import { ALWAYS_REMOVED_ENV } from './always-removed-env.js';
import { DEFAULT_DAEMON_LOG, DEFAULT_ENABLED, DEFAULT_LOG_DIR, DEFAULT_PORT, DEFAULT_SUPERVISION_TEXT, supervisionSettings } from './defaults.js';
import { DEFAULTED_ARGS, portProblem, resolveDefaultedArg, type ArgOrigin, type ChildEnv, type ConfigValue, type DefaultedArg } from './llama-arg-env.js';
import type { DraftProblem, KeyPath } from './problem.js';
import { ENV_NAME_PATTERN, type ControlInput, type ServerInput } from './schema.js';
import type { InstanceSpec } from './types.js';

export interface BuildInput {
  name: string;
  /** Merged `[instance.control]` + `[instance.NAME.control]`. */
  control: ControlInput;
  /** Merged `[instance.server]` + `[instance.NAME.server]`. */
  server: ServerInput;
  /** Where a merged server key was written: the instance's table or the shared one. */
  serverKeyPath(key: string): KeyPath;
  /** Where a merged control key was written: the instance's table or the shared one. */
  controlKeyPath(key: string): KeyPath;
  executable: string;
  /** Directories to put before the daemon's LD_LIBRARY_PATH. */
  libraryDirs: string[];
  env: NodeJS.ProcessEnv;
  /** `[instance.NAME.env]`: variables set over the daemon's environment for this instance. */
  instanceEnv?: Readonly<Record<string, string | number | boolean>>;
}

/** A value under a name like these is a credential: redacted wherever the instance is shown. */
const SECRET_ENV_NAME = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL/i;

export const INSTANCE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const MODEL_SOURCE_KEYS = ['model', 'hf_repo', 'model_url', 'docker_repo'] as const;
const MODEL_FLAGS = ['-m', '--model', '-mu', '--model-url', '-hf', '-hfr', '--hf-repo', '-dr', '--docker-repo'];

export const flagOf = (key: string) => `--${key.replace(/_/g, '-')}`;

interface FoundFlag {
  present: boolean;
  value: string | undefined;
}

/** Value of `--flag X` / `--flag=X` in a raw argument list (the last one wins, as in llama-server). */
function findFlag(args: readonly string[], flags: readonly string[]): FoundFlag {
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

/** Where probes connect: a wildcard listen address is reached through loopback. */
export function probeHostOf(host: string): string {
  const h = host.trim();
  if (h === '' || h === '0.0.0.0') return '127.0.0.1';
  if (h === '::' || h === '[::]') return '::1';
  return h.replace(/^\[(.*)\]$/, '$1');
}

function gpuEnv(gpuIds: ControlInput['gpu_ids']): Record<string, string> {
  if (gpuIds === undefined || gpuIds === 'all') return {};
  if (gpuIds === 'none') return { CUDA_VISIBLE_DEVICES: '' };
  return { CUDA_VISIBLE_DEVICES: String(gpuIds).replace(/\s+/g, '') };
}

function logFileOf(name: string, control: ControlInput): string | undefined {
  if (control.log_file !== undefined) return control.log_file === '' ? undefined : control.log_file;
  const dir = control.log_dir ?? DEFAULT_LOG_DIR;
  return dir === '' ? undefined : path.join(dir, `llama-server-${name}.log`);
}

/** One server key → its llama-server flags (snake_case → --kebab-case; true alone; false omitted; a list repeated). */
function flagsOf(key: string, value: ServerInput[string]): string[] {
  const flag = flagOf(key);
  if (key === 'flash_attn' && typeof value === 'boolean') return [flag, value ? 'on' : 'off'];
  if (typeof value === 'boolean') return value ? [flag] : [];
  if (Array.isArray(value)) return value.flatMap((item) => [flag, String(item)]);
  return value === undefined ? [] : [flag, String(value)];
}

interface ListenAddress {
  host: string;
  port: number;
  /** Flags to add: --host/--port are always passed so the probes hit the address llama-server really uses. */
  args: string[];
  origins: ArgOrigin[];
}

/**
 * The address an instance listens on: the typed key, else the flag in extra_args, else the
 * LLAMA_ARG_HOST/LLAMA_ARG_PORT the child will see, else the default (llama-arg-env.ts). Whatever
 * the config does not set is passed explicitly, so the probes know where llama-server listens.
 */
function listenAddressOf(
  server: ServerInput,
  fromExtra: { host: FoundFlag; port: FoundFlag },
  childEnv: ChildEnv,
  problem: (at: 'extra_args' | 'port', message: string) => void,
): ListenAddress {
  const configValues: Record<DefaultedArg['key'], ConfigValue | undefined> = {
    host: server.host !== undefined ? { value: server.host, source: 'config' } : fromExtra.host.present ? { value: fromExtra.host.value ?? '', source: 'extra_args' } : undefined,
    port: server.port !== undefined ? { value: String(server.port), source: 'config' } : fromExtra.port.present ? { value: fromExtra.port.value ?? '', source: 'extra_args' } : undefined,
  };
  const origins = DEFAULTED_ARGS.map((arg) => resolveDefaultedArg(arg, configValues[arg.key], childEnv));
  const args: string[] = [];
  for (const origin of origins) {
    if (origin.source !== 'config' && origin.source !== 'extra_args') args.push(origin.flag, origin.value);
    const bad = portProblem(origin);
    if (bad) problem('port', bad);
  }
  const portOrigin = origins.find((o) => o.key === 'port')!;
  const parsed = /^\d+$/.test(portOrigin.value) ? Number(portOrigin.value) : NaN;
  if (portOrigin.source === 'extra_args' && !(parsed >= 1 && parsed <= 65535)) {
    problem('extra_args', `--port in extra_args is not a port (expected an integer 1-65535, got ${JSON.stringify(portOrigin.value)})`);
  }
  return { host: origins.find((o) => o.key === 'host')!.value, port: Number.isFinite(parsed) ? parsed : DEFAULT_PORT, args, origins };
}

/** What a llama-server option can be named, so a server-table key is a flag and nothing else. */
const FLAG_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export function buildInstance(input: BuildInput): { spec: InstanceSpec; problems: DraftProblem[] } {
  const { name, control, server } = input;
  const problems: DraftProblem[] = [];
  const problem = (p: KeyPath, message: string) => problems.push({ path: p, message, kind: 'semantic', subject: 'setting', instance: name });

  if (!INSTANCE_NAME_PATTERN.test(name)) {
    problem(['instance', name], `instance name ${JSON.stringify(name)} is not usable (expected letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64 characters)`);
  }

  const extra = (server.extra_args ?? []).map(String);
  const extraPath = input.serverKeyPath('extra_args');
  const args: string[] = [...extra];
  const secrets: string[] = [];
  // gpu_ids and the secret keys below are set over the env table: they are the typed way to say it
  const ownEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.instanceEnv ?? {})) {
    if (!ENV_NAME_PATTERN.test(key)) {
      problem(['instance', name, 'env', key], `${JSON.stringify(key)} is not a variable name (expected letters, digits and _, not starting with a digit)`);
      continue;
    }
    ownEnv[key] = String(value);
    if (SECRET_ENV_NAME.test(key) && ownEnv[key] !== '') secrets.push(ownEnv[key]);
  }
  const env: Record<string, string> = { ...ownEnv, ...gpuEnv(control.gpu_ids) };

  for (const setting of SECRET_SETTINGS) {
    for (const flag of setting.flags) {
      if (findFlag(extra, [flag]).present) {
        problem(extraPath, `${flag} must not be on the command line, where every process listing shows it (expected server.${setting.key} = "...", which infer-entry passes through the environment)`);
      }
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
    const secret = secretSettingOf(key);
    if (secret !== undefined) {
      if (typeof value === 'string' && value !== '') {
        env[secret.env] = value;
        secrets.push(value);
      }
      continue;
    }
    // An unknown key becomes a flag: one llama-server could never accept (a space, a control or bidi
    // character) is refused here, with its place, rather than as a crash loop at start.
    if (!FLAG_KEY_PATTERN.test(key)) {
      problem(input.serverKeyPath(key), `${JSON.stringify(key)} is not an option name (expected letters, digits, '_' or '-', starting with a letter or digit, like ctx_size or no-mmap)`);
      continue;
    }
    args.push(...flagsOf(key, value));
  }

  const address = listenAddressOf(server, fromExtra, { daemon: input.env, instance: ownEnv }, (at, message) => problem(at === 'port' ? ['instance', name, 'server', 'port'] : extraPath, message));
  args.push(...address.args);
  const { host, port } = address;

  const model = server.model ?? (fromExtra.model.present ? fromExtra.model.value : undefined);
  const hasModelSource = MODEL_SOURCE_KEYS.some((k) => typeof server[k] === 'string' && server[k] !== '') || findFlag(extra, MODEL_FLAGS).present;
  if (!hasModelSource) {
    problem(['instance', name, 'server', 'model'], 'no model (expected model = "/path/to/model.gguf", or hf_repo, model_url, or a --model/-hf flag in extra_args)');
  }

  if (input.libraryDirs.length > 0) {
    const inherited = ownEnv.LD_LIBRARY_PATH ?? input.env.LD_LIBRARY_PATH;
    env.LD_LIBRARY_PATH = [...input.libraryDirs, ...(inherited ? [inherited] : [])].join(':');
  }

  const supervision = supervisionSettings({ ...DEFAULT_SUPERVISION_TEXT, ...control });
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

  const envRemove = [...ALWAYS_REMOVED_ENV];
  const logFile = logFileOf(name, control);
  const daemonLog = control.daemon_log ?? DEFAULT_DAEMON_LOG;
  if (!daemonLog && logFile === undefined) {
    const off = control.log_file === '' ? 'log_file = ""' : 'log_dir = ""';
    problem(input.controlKeyPath('daemon_log'), `daemon_log = false and no log file (${off}): the instance's output would be written nowhere (expected a log_file or log_dir, or daemon_log = true)`);
  }
  // Output settings are part of the process's identity: a reload that changes one restarts the instance.
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ executable: input.executable, args, env, envRemove, logFile, daemonLog, host, port, supervision }))
    .digest('hex');

  return {
    spec: {
      name,
      enabled: control.enabled ?? DEFAULT_ENABLED,
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
      daemonLog,
      supervision,
      fingerprint,
      argOrigins: address.origins,
    },
    problems,
  };
}
