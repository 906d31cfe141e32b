/**
 * The supervisor: the set of instances of the loaded config, reload as a diff
 * (added start, removed stop, changed restart, unchanged keep running), and
 * the API the control plane and boot use.
 */
import type { Logger } from 'pino';
import { ExitCode, InferEntryError, TempFailError } from '../errors.js';
import { defaultDeps, type SupervisorDeps } from './deps.js';
import { createSupervisorEvents } from './events.js';
import { applyConfig } from './apply-config.js';
import { Instance, type InstanceContext } from './instance.js';
import type { InstanceStatus, LoadedConfig, ReloadResult, SupervisorApi } from './types.js';

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
  const events = createSupervisorEvents(log);
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
    onTransition: events.emitTransition,
    onProbe: events.emitProbe,
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

  const api: SupervisorApi = {
    onTransition: events.onTransition,
    onProbe: events.onProbe,
    list: () => [...instances.values()].map((instance) => instance.status()),
    get: (name) => instances.get(name)?.status(),

    async start(name) {
      const instance = need(name);
      refuseWhenClosed(name);
      // Answer once the start took effect (a backoff cut short has been left).
      await instance.start('start requested');
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
      if (!closed) await instance.start('restart requested');
      return instance.status();
    },
    logs: (name, n) => need(name).output.ring.last(n),
    followLogs: (name, onLine) => need(name).output.follow(onLine),

    reload(config: LoadedConfig): Promise<ReloadResult> {
      // The one queue of reloads: a SIGHUP during a socket `reload` must not interleave two diffs.
      const next = reloading.then(() => applyConfig({ instances, ctx, log, closed: () => closed }, config));
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
