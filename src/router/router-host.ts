/**
 * The daemon's router: started when a loaded config has `[router] enable = true`, replaced when
 * a reload changes what it routes — the new router takes over the waiting requests and the old one
 * finishes those in flight — and closed with the daemon (waiting requests get 503 first).
 */
import type { Logger } from 'pino';

import type { LoadedConfig } from '../config/types.js';
import { ENV } from '../env.js';
import { findOnPath } from '../find-on-path.js';
import { resolvePaths } from '../paths.js';
import type { SupervisorApi } from '../supervisor/types.js';
import type { RoutedInstance } from './core.js';
import { nvidiaSmiProbe, type GpuProbe } from './gpu.js';
import { registerProtocolRoutes, type ProtocolListener } from './protocols/register.js';
import { createRouter, type Router } from './router.js';
import type { RouterSettings } from './types.js';
import { memoryKey } from './vram-store.js';

export interface RouterHostOptions {
  supervisor: SupervisorApi;
  log: Logger;
  env: NodeJS.ProcessEnv;
  /** Default: nvidia-smi when it is on PATH, else none. */
  gpu?: GpuProbe | null;
}

export interface RouterHost {
  apply(config: LoadedConfig): Promise<void>;
  current(): Router | null;
  close(): Promise<void>;
}

export function createRouterHost(options: RouterHostOptions): RouterHost {
  let router: Router | null = null;
  let ollamaListener: ProtocolListener | undefined;
  let key = '';
  // A reload being applied while the daemon stops must not start a router after close.
  let closed = false;
  const gpu = options.gpu === undefined ? defaultProbe(options.env) : (options.gpu ?? undefined);
  const apiKeys = (options.env[ENV.ROUTER_API_KEYS] ?? '').split(',').map((k) => k.trim()).filter(Boolean);

  let applied: RouterSettings | undefined;
  /** Routers replaced by a reload, finishing their requests in flight. */
  const retiring = new Set<Router>();

  const retire = (previous: Router, next: Router, keepListener: boolean) => {
    retiring.add(previous);
    next
      .takeOver(previous, keepListener)
      .catch((error: unknown) => options.log.warn({ step: 'router', err: error }, 'closing the previous router configuration failed'))
      .finally(() => retiring.delete(previous));
  };

  return {
    current: () => router,
    async apply(config) {
      if (closed) return;
      const settings = config.enable && config.router?.enable ? config.router : undefined;
      const instances: RoutedInstance[] = settings
        ? config.instances.flatMap((spec) => (spec.routing ? [{ name: spec.name, host: spec.probeHost, port: spec.port, control: spec.routing, modelPath: spec.model, vramKey: memoryKey(spec) }] : []))
        : [];
      const next = settings ? JSON.stringify({ settings, instances }) : '';
      if (next === key) return;
      const previous = router;
      if (!settings) {
        // Router turned off: nothing takes over, so waiting requests get 503 and running ones end.
        await ollamaListener?.close();
        ollamaListener = undefined;
        await router?.close();
        router = null;
        key = '';
        applied = undefined;
        return;
      }
      const created = await createRouter({ supervisor: options.supervisor, instances, settings, log: options.log, apiKeys, gpu, vramStateFile: resolvePaths(options.env).routerVram, previous });
      if (closed) return void (await created.close());
      // Ollama's API and llama.cpp's router-mode endpoints, on the same route table (and queue).
      const mount = registerProtocolRoutes(created, settings, options.log, apiKeys);
      // Listeners on an unchanged address are kept: their route tables follow to the new router.
      const keepMain = previous !== null && applied !== undefined && applied.host === settings.host && applied.port === settings.port;
      const keepOllama = previous !== null && applied !== undefined && sameOllamaListen(applied, settings);
      try {
        if (!keepOllama) {
          await ollamaListener?.close();
          ollamaListener = undefined;
        }
        // Another host on the same port: the old socket must let go of the port first.
        if (previous && !keepMain && applied?.port === settings.port) previous.listener.server.close();
        if (!keepMain) await created.start();
        if (!keepOllama) await mount.ollamaListener?.start();
      } catch (error) {
        if (!keepOllama) await mount.ollamaListener?.close();
        await created.close();
        throw error;
      }
      router = created;
      if (!keepOllama) ollamaListener = mount.ollamaListener;
      key = next;
      applied = settings;
      if (previous) retire(previous, created, keepMain);
    },
    async close() {
      closed = true;
      const closing = router;
      const closingOllama = ollamaListener;
      router = null;
      ollamaListener = undefined;
      key = '';
      await closingOllama?.close();
      await closing?.close();
      // The daemon is stopping: what the replaced routers still run ends with it.
      await Promise.all([...retiring].map((r) => r.close()));
    },
  };
}

function sameOllamaListen(a: RouterSettings, b: RouterSettings): boolean {
  const listen = (s: RouterSettings) => (s.ollama && s.ollamaListen ? `${s.ollamaListen.host}:${s.ollamaListen.port}` : '');
  return listen(a) === listen(b);
}

function defaultProbe(env: NodeJS.ProcessEnv): GpuProbe | undefined {
  const smi = findOnPath('nvidia-smi', env);
  return smi ? nvidiaSmiProbe(smi) : undefined;
}
