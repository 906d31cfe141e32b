/**
 * llama-server reads `LLAMA_ARG_*` variables (`LLAMA_ARG_HOST`, `LLAMA_ARG_PORT`, …) when the flag
 * is not on its command line, and compose files set them (llama.cpp's own server image documents
 * `LLAMA_ARG_HOST=0.0.0.0`). infer-entry always passes the flags it needs to know (where to probe),
 * so a default it filled in would silently beat the user's variable. Here each such flag gets its
 * effective value: the config (a key or an `extra_args` flag) first, then the variable in the
 * instance's environment, then the default — and a record of where it came from, for
 * `validate --print-commands` and for the one warning when the config shadows a variable.
 * Variables not listed here are none of infer-entry's business: they reach llama-server untouched.
 */
import { DEFAULT_HOST, DEFAULT_PORT } from './defaults.js';

/** A flag infer-entry passes even when the config does not set it. */
export interface DefaultedArg {
  key: 'host' | 'port';
  flag: string;
  variable: string;
  fallback: string;
}

export const DEFAULTED_ARGS: readonly DefaultedArg[] = [
  { key: 'host', flag: '--host', variable: 'LLAMA_ARG_HOST', fallback: DEFAULT_HOST },
  { key: 'port', flag: '--port', variable: 'LLAMA_ARG_PORT', fallback: String(DEFAULT_PORT) },
];

export type ArgSource = 'config' | 'extra_args' | 'environment' | 'instance-env' | 'default';

/** What the llama-server child will see: the daemon's environment, the instance's env table over it. */
export interface ChildEnv {
  daemon: Readonly<Record<string, string | undefined>>;
  instance: Readonly<Record<string, string>>;
}

export interface ArgOrigin {
  key: DefaultedArg['key'];
  flag: string;
  value: string;
  source: ArgSource;
  /** The variable that was read (source 'environment' / 'instance-env') or ignored (`shadowed`). */
  variable: string;
  /** A variable the config overrode, with its value: worth one warning. */
  shadowed?: string;
  /** The shadowed variable came from the instance's env table, not the container's environment. */
  shadowedInInstanceEnv?: boolean;
}

/** The value the config gave the key, if any: its typed key, else the flag in extra_args. */
export interface ConfigValue {
  value: string;
  source: 'config' | 'extra_args';
}

/**
 * Effective value of one defaulted flag, from what the llama-server child will see (the instance's
 * env table over the daemon's environment). An empty variable counts as unset, as an empty
 * `-e LLAMA_ARG_HOST=` in a compose file is meant to.
 */
export function resolveDefaultedArg(arg: DefaultedArg, fromConfig: ConfigValue | undefined, env: ChildEnv): ArgOrigin {
  const inInstance = Object.hasOwn(env.instance, arg.variable);
  const raw = inInstance ? env.instance[arg.variable] : env.daemon[arg.variable];
  const fromEnv = raw !== undefined && raw.trim() !== '' ? raw.trim() : undefined;
  const base = { key: arg.key, flag: arg.flag, variable: arg.variable };
  if (fromConfig) {
    if (fromEnv === undefined || sameValue(arg, fromEnv, fromConfig.value)) return { ...base, value: fromConfig.value, source: fromConfig.source };
    return { ...base, value: fromConfig.value, source: fromConfig.source, shadowed: fromEnv, ...(inInstance ? { shadowedInInstanceEnv: true } : {}) };
  }
  if (fromEnv !== undefined) return { ...base, value: fromEnv, source: inInstance ? 'instance-env' : 'environment' };
  return { ...base, value: arg.fallback, source: 'default' };
}

function sameValue(arg: DefaultedArg, a: string, b: string): boolean {
  return arg.key === 'port' ? Number(a) === Number(b) : a === b;
}

/** `LLAMA_ARG_PORT=abc` is the user's mistake, reported like a bad `port` key. */
export function portProblem(origin: ArgOrigin): string | undefined {
  if (origin.key !== 'port' || (origin.source !== 'environment' && origin.source !== 'instance-env')) return undefined;
  const n = /^\d+$/.test(origin.value) ? Number(origin.value) : NaN;
  const where = origin.source === 'instance-env' ? "in the instance's env table" : 'in the environment';
  return n >= 1 && n <= 65535 ? undefined : `${origin.variable}=${JSON.stringify(origin.value)} ${where} is not a port (expected an integer 1-65535, or set port in the config)`;
}

/** Where a value came from, for `validate --print-commands`: `port 9000 from LLAMA_ARG_PORT`. */
export function describeOrigin(o: ArgOrigin): string {
  const from = {
    config: 'from the config',
    extra_args: 'from extra_args',
    environment: `from ${o.variable}`,
    'instance-env': `from ${o.variable} in the instance's env table`,
    default: `by default (${o.variable} not set)`,
  }[o.source];
  return `${o.key} ${o.value} ${from}${o.shadowed !== undefined ? ` (${o.variable}=${o.shadowed}${o.shadowedInInstanceEnv ? " in the env table" : ''} ignored)` : ''}`;
}

/** The one warning for a config value that beats a variable: both values named. */
export function shadowWarning(instance: string, o: ArgOrigin): string | undefined {
  if (o.shadowed === undefined) return undefined;
  const where = o.source === 'extra_args' ? `${o.flag} ${o.value} in extra_args` : `${o.key} = ${o.key === 'port' ? o.value : JSON.stringify(o.value)} in the config`;
  return `instance ${instance}: ${where} wins over ${o.variable}=${o.shadowed} from ${o.shadowedInInstanceEnv ? "the instance's env table" : 'the environment'} (llama-server gets ${o.flag} ${o.value}); remove one of them to silence this`;
}

/** Every shadow warning of a loaded config, one per instance and flag. */
export function argWarnings(instances: readonly { name: string; argOrigins?: ArgOrigin[] }[]): { instance: string; variable: string; message: string }[] {
  return instances.flatMap((spec) =>
    (spec.argOrigins ?? []).flatMap((o) => {
      const message = shadowWarning(spec.name, o);
      return message === undefined ? [] : [{ instance: spec.name, variable: o.variable, message }];
    }),
  );
}
