/**
 * The supervisor: the set of instances of the loaded config, reload as a diff
 * (added start, removed stop, changed restart, unchanged keep running), and
 * the API the control plane and boot use.
 */
import type { Logger } from 'pino';
import { ExitCode, InferEntryError, TempFailError } from '../errors.js';
import { defaultDeps, type SupervisorDeps } from './deps.js';
import { Instance, type InstanceContext } from './instance.js';
import type { InstanceSpec, InstanceStatus, LoadedConfig, ProbeInfo, ReloadResult, SupervisorApi, TransitionEvent } from './types.js';

export type { SupervisorDeps } from './deps.js';

export interface SupervisorOptions {
  log: Logger;
  /** Base environment of the children (default process.env). */
  env?: NodeJS.ProcessEnv;
  deps?: Partial<SupervisorDeps>;
  /** Lines of output kept per instance for `logs` (default 1000). */
  logRingLines?: number;
  /**
   * Level of the instances' output lines in the daemon log (default info). `boot -- bash` on a
   * terminal uses debug: the user's shell must not fill with llama-server chatter; the lines still
   * reach the ring buffer (`infer-entry logs`) and the log_file.
   */
  outputLevel?: 'info' | 'debug';
}

export const DEFAULT_LOG_RING_LINES = 1000;

export function unknownInstanceError(name: string, known: string[]): InferEntryError {
  return new InferEntryError('E_UNKNOWN_INSTANCE', ExitCode.USAGE, `no instance named "${name}" in the loaded config`, {
    hint: known.length > 0 ? `known instances: ${known.join(', ')}` : 'the loaded config has no instances; check the config file and reload',
    details: { instance: name },
  });
}

const SETTLED = new Set(['ready', 'failed', 'stopped']);

export function createSupervisor(options: SupervisorOptions): SupervisorApi {
  const log = options.log;
  const deps: SupervisorDeps = { ...defaultDeps(options.env ?? process.env), ...options.deps };
  const transitionListeners = new Set<(event: TransitionEvent) => void>();
  const probeListeners = new Set<(instance: string, probe: ProbeInfo) => void>();
  const instances = new Map<string, Instance>();

  if (deps.setpriv === null) {
    log.warn(
      { step: 'supervise' },
      'setpriv (util-linux) not found: llama-server processes will not be killed by the kernel if the supervisor itself is SIGKILLed; install util-linux',
    );
  }

  const ctx: InstanceContext = {
    deps,
    log,
    baseEnv: options.env ?? process.env,
    ringLines: options.logRingLines ?? DEFAULT_LOG_RING_LINES,
    outputLevel: options.outputLevel ?? 'info',
    onTransition: (event) => {
      const level = event.to === 'failed' ? 'error' : event.to === 'unhealthy' || event.to === 'backoff' ? 'warn' : 'info';
      log[level](
        {
          step: 'supervise',
          instance: event.instance,
          from: event.from,
          to: event.to,
          reason: event.reason,
          pid: event.pid,
          exit_code: event.exitCode,
          signal: event.signal,
          restarts: event.restarts,
          class: event.failureClass,
        },
        `${event.instance}: ${event.from} → ${event.to} (${event.reason})`,
      );
      for (const listener of transitionListeners) {
        try {
          listener(event);
        } catch (error) {
          log.error({ step: 'supervise', err: error }, 'a transition listener threw');
        }
      }
    },
    onProbe: (instance, probe) => {
      for (const listener of probeListeners) {
        try {
          listener(instance, probe);
        } catch (error) {
          log.error({ step: 'supervise', err: error }, 'a probe listener threw');
        }
      }
    },
  };

  const need = (name: string): Instance => {
    const instance = instances.get(name);
    if (!instance) throw unknownInstanceError(name, [...instances.keys()]);
    return instance;
  };

  let reloading: Promise<unknown> = Promise.resolve();
  /** Set by stopAll: from then on nothing starts, so a reload in flight cannot revive an instance after shutdown. */
  let closed = false;
  const refuseWhenClosed = (name: string) => {
    if (closed) {
      throw new TempFailError('E_SHUTTING_DOWN', `instance "${name}" was not started: the supervisor is shutting down`, {
        hint: 'start it again once the daemon is back up',
      });
    }
  };

  async function applyConfig(config: LoadedConfig): Promise<ReloadResult> {
    const result: ReloadResult = { added: [], removed: [], changed: [], unchanged: [] };
    const next = new Map<string, InstanceSpec>(config.instances.map((spec) => [spec.name, spec]));
    const work: Promise<void>[] = [];
    for (const [name, instance] of instances) {
      if (next.has(name)) continue;
      result.removed.push(name);
      work.push(
        instance.stop('removed from the config').then(() => {
          if (instances.get(name) === instance) instances.delete(name);
        }),
      );
    }
    for (const spec of config.instances) {
      const enabled = config.enable && spec.enabled;
      const current = instances.get(spec.name);
      if (!current) {
        result.added.push(spec.name);
        const instance = new Instance(spec, enabled, ctx);
        instances.set(spec.name, instance);
        if (enabled && !closed) instance.start('added by the config');
        continue;
      }
      if (current.spec.fingerprint === spec.fingerprint && current.enabled === enabled) {
        result.unchanged.push(spec.name);
        current.updateSpec(spec, enabled);
        // A reload is how users say "I fixed it" (a model file copied in, a port freed): an enabled
        // instance that gave up gets a fresh try. A manually stopped one stays stopped.
        if (enabled && !closed && current.state === 'failed') current.start('config reloaded; retrying the failed instance');
        continue;
      }
      result.changed.push(spec.name);
      work.push(
        (async () => {
          await current.stop(enabled ? 'config changed; restarting' : 'disabled in the config');
          current.updateSpec(spec, enabled);
          if (enabled && !closed) current.start('config changed');
        })(),
      );
    }
    await Promise.all(work);
    log.info({ step: 'supervise', file: config.file, ...result }, 'config loaded');
    return result;
  }

  const api: SupervisorApi = {
    onTransition(listener) {
      transitionListeners.add(listener);
      return () => transitionListeners.delete(listener);
    },
    onProbe(listener) {
      probeListeners.add(listener);
      return () => probeListeners.delete(listener);
    },
    list: () => [...instances.values()].map((instance) => instance.status()),
    get: (name) => instances.get(name)?.status(),

    async start(name) {
      const instance = need(name);
      refuseWhenClosed(name);
      const wasBackoff = instance.state === 'backoff';
      instance.start('start requested');
      // Cutting a backoff short takes effect once the aborted wait settles (microtasks): answer after it.
      if (wasBackoff) await new Promise((resolve) => setImmediate(resolve));
      return instance.status();
    },
    async stop(name) {
      const instance = need(name);
      await instance.stop('stop requested');
      return instance.status();
    },
    async restart(name) {
      const instance = need(name);
      refuseWhenClosed(name);
      await instance.stop('restart requested');
      if (!closed) instance.start('restart requested');
      return instance.status();
    },
    logs: (name, n) => need(name).output.ring.last(n),
    followLogs: (name, onLine) => need(name).output.follow(onLine),

    reload(config: LoadedConfig): Promise<ReloadResult> {
      // The one queue of reloads: a SIGHUP during a socket `reload` must not interleave two diffs.
      const next = reloading.then(() => applyConfig(config));
      reloading = next.catch(() => undefined);
      return next;
    },

    waitSettled(names, signal) {
      const targets = names.map(need);
      return new Promise<InstanceStatus[]>((resolve, reject) => {
        const check = () => {
          if (!targets.every((instance) => SETTLED.has(instance.state))) return false;
          cleanup();
          resolve(targets.map((instance) => instance.status()));
          return true;
        };
        const onAbort = () => {
          cleanup();
          reject(signal!.reason);
        };
        const unsubscribe = api.onTransition(() => void check());
        const cleanup = () => {
          unsubscribe();
          signal?.removeEventListener('abort', onAbort);
        };
        if (check()) return;
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },

    async stopAll(stopOptions = {}) {
      closed = true;
      const immediate = stopOptions.immediate ?? false;
      const stopEvery = () =>
        Promise.all([...instances.values()].map((instance) => instance.stop(immediate ? 'shutdown (immediate)' : 'shutdown', immediate)));
      await stopEvery();
      // A reload in flight ends without starting anything; stop whatever it added meanwhile.
      await reloading;
      await stopEvery();
    },
  };
  return api;
}
