/**
 * Assembles the router: core (scheduler + upstream pools), the OpenAI routes, metrics and the
 * listener. Protocol layers add their routes to `routes` before `start`.
 */
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import type { SupervisorApi } from '../supervisor/types.js';
import { realClock, type Clock } from './clock.js';
import { Core, type RoutedInstance } from './core.js';
import { defaultBudgets, waitForVram, type GpuProbe } from './gpu.js';
import { createRouterMetrics, type RouterMetrics } from './metrics.js';
import { registerOpenAiRoutes } from './openai-routes.js';
import { RouteTable } from './routes.js';
import { createListener, type Listener } from './server.js';
import type { RouterSettings } from './types.js';
import { VramLearner } from './vram-learner.js';
import { VramStore } from './vram-store.js';

export interface RouterOptions {
  supervisor: SupervisorApi;
  instances: RoutedInstance[];
  settings: RouterSettings;
  log: Logger;
  clock?: Clock;
  /** Keys clients must present; empty = open. */
  apiKeys?: string[];
  gpu?: GpuProbe | undefined;
  /** Where measured VRAM is kept across restarts; undefined = memory only. */
  vramStateFile?: string | undefined;
  /** Bound on waiting for a victim's VRAM to show free (default 30 s, polled every 250 ms). */
  vramWait?: { intervalMs: number; maxWaitMs: number };
  /** The router this one replaces (a reload): models it warmed are not warmed again. */
  previous?: Router | null;
}

export interface Router {
  core: Core;
  routes: RouteTable;
  metrics: RouterMetrics;
  listener: Listener;
  /** Measured VRAM (with a GPU probe): one store per file, handed from a router to the one replacing it. */
  vramStore: VramStore | undefined;
  /** Listen on settings.host:port. */
  start(): Promise<AddressInfo>;
  /**
   * Reconfiguration: this router takes over from `previous`, whose waiting requests move here and
   * whose requests in flight finish undisturbed. With `keepListener`, previous's listener (same
   * host:port) serves this router's routes and is not restarted; otherwise this router must be
   * started first, and previous's listener stops accepting and closes once its answers are sent.
   * Resolves when `previous` has no request left in flight and is closed.
   */
  takeOver(previous: Router, keepListener: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function createRouter(options: RouterOptions): Promise<Router> {
  const clock = options.clock ?? realClock;
  const log = options.log.child({ step: 'router' });
  let settings = options.settings;
  const gpu = options.gpu;
  if (gpu) {
    try {
      settings = { ...settings, gpuBudgetMb: await defaultBudgets(gpu, settings.gpuBudgetMb) };
    } catch (error) {
      log.warn({ err: error }, 'nvidia-smi did not answer: GPU budgets come from [router] gpu_budget_mb only');
    }
  }
  // gpu_ids "all" (or unset): every GPU with a budget.
  const instances = options.instances.map((i) =>
    i.control.gpus.includes('*') ? { ...i, control: { ...i.control, gpus: Object.keys(settings.gpuBudgetMb) } } : i,
  );
  // The store is taken over on a reload, not opened again: two stores of one file, the old router's
  // still measuring while it drains, would write over each other (and share one temp file name).
  const vramStore = gpu ? (options.previous?.vramStore ?? (await VramStore.open(options.vramStateFile, log))) : undefined;
  const vram = gpu && vramStore ? new VramLearner({ store: vramStore, probe: gpu, keys: new Map(instances.map((i) => [i.name, i.vramKey ?? ''])), log }) : undefined;
  let core: Core | undefined;
  const metrics = createRouterMetrics(() =>
    core ? core.models().map((m) => ({ model: m.id, queued: m.queued, inFlight: m.inFlight, measuredVramMb: m.vramMeasured ? m.vramMb : null })) : [],
  );
  const byName = new Map(instances.map((i) => [i.name, i]));
  core = new Core({
    supervisor: options.supervisor,
    instances,
    settings,
    clock,
    log,
    metrics,
    vram,
    ...(options.previous ? { previous: options.previous.core } : {}),
    ...(gpu
      ? {
          async beforeStart(name: string, signal: AbortSignal) {
            const control = byName.get(name)?.control;
            const needMb = vram?.measured(name) ?? control?.vramMb;
            if (!control || !needMb || control.gpus.length === 0) return;
            const free = await waitForVram(gpu, clock, control.gpus, needMb, signal, options.vramWait);
            if (!free && !signal.aborted) log.warn({ instance: name }, `starting ${name} although nvidia-smi does not show ${needMb} MiB free yet`);
          },
        }
      : {}),
  });
  const routes = new RouteTable();
  registerOpenAiRoutes(routes, core, { maxBodyBytes: settings.maxBodyBytes, loadingHeartbeatMs: settings.loadingHeartbeatMs, metrics });
  const listener = createListener({ routes, log, apiKeys: options.apiKeys ?? [] });
  const ready = core;
  let live: Listener = listener;
  return {
    core: ready,
    routes,
    metrics,
    vramStore,
    get listener() {
      return live;
    },
    async takeOver(previous, keepListener) {
      // A request arriving on any connection of the previous listener now reaches this router.
      previous.routes.follow(routes);
      if (keepListener) live = previous.listener;
      const closed = keepListener ? Promise.resolve() : stopAccepting(previous.listener);
      previous.core.scheduler.handOver(ready.scheduler);
      await previous.core.scheduler.whenDrained();
      log.info('the previous router configuration finished its requests in flight');
      await previous.core.close();
      if (!keepListener) {
        // Its answers are sent: what stays open is idle, or a request this router serves (ends with close).
        previous.listener.server.closeIdleConnections();
        await closed;
      }
    },
    async start() {
      const address = await listener.listen(settings.host, settings.port);
      log.info({ host: address.address, port: address.port, models: ready.models().map((m) => m.id) }, `router listening on ${address.address}:${address.port}`);
      return address;
    },
    async close() {
      await live.close();
      vram?.close();
      await ready.close();
    },
  };
}

/**
 * Frees the old address: no new connections, idle keep-alive ones close now, and any answer it still
 * sends closes its connection afterwards, so clients reconnect to the new address. Resolves when its
 * last connection is gone.
 */
function stopAccepting(listener: Listener): Promise<void> {
  const { server } = listener;
  server.prependListener('request', (_req, res) => {
    res.shouldKeepAlive = false;
  });
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  return closed;
}
