/**
 * The router core behind every protocol: resolves model ids, queues through the scheduler,
 * forwards through the upstream pools, warms a model before its first request, and retries a
 * request once when its instance died before answering a byte.
 */
import type { Logger } from 'pino';

import type { SupervisorApi } from '../supervisor/types.js';
import type { Clock } from './clock.js';
import type { RouterMetrics } from './metrics.js';
import { Scheduler, type Grant, type SchedulerDeps } from './scheduler.js';
import { RouterError, type ForwardRequest, type ForwardResult, type InstanceControl, type ModelInfo, type RouterCore, type RouterSettings } from './types.js';
import { Upstreams, type UpstreamResponse, type UpstreamTarget } from './upstream.js';

export interface RoutedInstance {
  name: string;
  host: string;
  port: number;
  control: InstanceControl;
  /** `server.model` when it is a local file (not hf_repo / extra_args). */
  modelPath?: string | undefined;
  /** memoryKey() of its argv and env: a VRAM measurement counts only for the same key. */
  vramKey?: string | undefined;
}

/** Measured VRAM (with a GPU probe): read for placement and ModelInfo, learned after each load. */
export interface VramSource {
  measured(name: string): number | undefined;
  learn(name: string, pid: number): Promise<number | undefined>;
}

export interface CoreOptions {
  supervisor: SupervisorApi;
  instances: RoutedInstance[];
  settings: RouterSettings;
  clock: Clock;
  log: Logger;
  metrics?: RouterMetrics;
  /** Resolves once the GPUs have room for `name`; absent without a GPU probe. */
  beforeStart?: SchedulerDeps['beforeStart'];
  vram?: VramSource | undefined;
  /** The core this one replaces (a reload): what it learned of models still loaded carries over. */
  previous?: Core;
}

const WARM_TIMEOUT_MS = 120_000;
/** How long a failed request waits for the supervisor to notice its instance died. */
const CRASH_NOTICE_MS = 2000;

export class Core implements RouterCore {
  readonly scheduler: Scheduler;
  readonly upstreams = new Upstreams();
  private readonly byId = new Map<string, RoutedInstance>();
  private readonly props = new Map<string, unknown>();
  /**
   * Pid of each instance's process as of its last `ready`: what a granted request talks to. Kept
   * from transitions because the supervisor's status() builds a whole snapshot (redacted argv
   * included), too much to ask on every request.
   */
  private readonly readyPid = new Map<string, number | null>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: CoreOptions) {
    const { supervisor, instances, settings, clock, metrics } = options;
    for (const instance of instances) {
      for (const id of idsOf(instance)) if (!this.byId.has(id)) this.byId.set(id, instance);
    }
    this.scheduler = new Scheduler(
      instances.map((i) => ({
        name: i.name,
        group: i.control.group,
        gpus: i.control.gpus,
        vramMb: options.vram?.measured(i.name) ?? i.control.vramMb,
        pinned: i.control.pinned,
        ttlMs: i.control.ttlMs,
        maxConcurrency: i.control.maxConcurrency,
        maxQueue: i.control.maxQueue,
      })),
      { maxQueue: settings.maxQueue, queueTimeoutMs: settings.queueTimeoutMs, swapMaxWaitMs: settings.swapMaxWaitMs, groups: settings.groups, gpuBudgetMb: settings.gpuBudgetMb },
      {
        clock,
        state: (name) => supervisor.get(name)?.state,
        start: (name) => supervisor.start(name),
        stop: (name) => supervisor.stop(name),
        failureClass: (name) => supervisor.get(name)?.failureClass ?? undefined,
        warm: (name, signal) => this.warm(name, signal),
        ...(options.beforeStart ? { beforeStart: options.beforeStart } : {}),
        ...(options.previous ? { alreadyWarm: (name: string) => options.previous!.isWarm(name) } : {}),
        observer: {
          waited: (model, ms) => metrics?.queueWait.observe({ model }, ms / 1000),
          loaded: (model, ms) => {
            metrics?.loadTime.observe({ model }, ms / 1000);
            options.log.info({ step: 'router', instance: model, load_ms: Math.round(ms) }, `${model} is loaded and warm`);
          },
          evicted: (model, reason) => {
            metrics?.evictions.inc({ model, reason });
            options.log.info({ step: 'router', instance: model, reason }, `unloading ${model} (${reason})`);
          },
          rejected: (model, code) => metrics?.rejected.inc({ model, code }),
          error: (model, step, error) => options.log.warn({ step: 'router', instance: model, phase: step, err: error }, `${step} of ${model} failed`),
        },
      },
    );
    for (const instance of instances) this.readyPid.set(instance.name, supervisor.get(instance.name)?.pid ?? null);
    for (const [name, props] of options.previous?.props ?? []) if (this.scheduler.has(name) && this.scheduler.isWarm(name)) this.props.set(name, props);
    this.unsubscribe = supervisor.onTransition((event) => {
      if (event.to === 'ready') this.readyPid.set(event.instance, event.pid);
      if (event.to === 'stopped' || event.to === 'failed' || event.to === 'backoff') {
        this.upstreams.forget(event.instance);
      }
      this.scheduler.transition(event.instance, event.to);
    });
  }

  /** Warmed by this core, and still the same process (a reload hands this on). */
  isWarm(name: string): boolean {
    return this.scheduler.has(name) && this.scheduler.isWarm(name) && this.readyPid.get(name) === this.options.supervisor.get(name)?.pid;
  }

  models(): ModelInfo[] {
    return [...new Set(this.byId.values())].map((i) => this.info(i));
  }

  resolve(id: string): ModelInfo | undefined {
    const instance = this.byId.get(id);
    return instance ? this.info(instance) : undefined;
  }

  instanceOf(id: string): RoutedInstance {
    const instance = this.byId.get(id);
    if (!instance) throw new RouterError(404, 'model_not_found', `The model '${id}' does not exist; GET /v1/models lists the models this router serves.`);
    return instance;
  }

  async forward(request: ForwardRequest): Promise<ForwardResult> {
    const instance = this.instanceOf(request.model);
    const started = this.options.clock.now();
    for (let attempt = 0; ; attempt++) {
      const cold = !this.scheduler.isWarm(instance.name);
      const grant = await this.scheduler.submit({
        model: instance.name,
        client: request.client,
        signal: request.signal,
        ...(request.keepAliveMs === undefined ? {} : { keepAliveMs: request.keepAliveMs }),
      });
      const pid = this.readyPid.get(instance.name) ?? null;
      let response: UpstreamResponse;
      try {
        response = await this.upstreams.request(this.targetOf(instance), {
          method: request.method,
          path: request.path,
          ...(request.headers ? { headers: request.headers } : {}),
          ...(request.body ? { body: request.body } : {}),
          signal: request.signal,
        });
      } catch (error) {
        grant.release();
        if (request.signal.aborted) {
          this.options.metrics?.disconnects.inc({ model: instance.name });
          throw new RouterError(499, 'client_closed', 'The client closed the request.');
        }
        // Refused before it was sent (a request no HTTP server could be given): the client's, not a crash.
        if (error instanceof RouterError) throw error;
        if (attempt === 0) {
          // Died before the first byte: the queue survives the supervisor's restart, so go back to it once.
          this.options.log.warn({ step: 'router', instance: instance.name, err: error }, `${instance.name} failed before answering; retrying once after its restart`);
          await this.crashNoticed(instance.name, pid);
          continue;
        }
        throw new RouterError(502, 'upstream_error', `The model '${instance.name}' failed while answering: ${errorText(error)}`);
      }
      this.options.metrics?.ttfb.observe({ model: instance.name }, (this.options.clock.now() - started) / 1000);
      return this.result(instance, grant, response, cold ? grant.waitedMs : 0);
    }
  }

  async load(id: string, signal?: AbortSignal): Promise<ModelInfo> {
    const instance = this.instanceOf(id);
    await this.scheduler.load(instance.name, signal);
    return this.info(instance);
  }

  async unload(id: string): Promise<ModelInfo> {
    const instance = this.instanceOf(id);
    await this.scheduler.unload(instance.name);
    return this.info(instance);
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.scheduler.close();
    await this.upstreams.close();
  }

  private info(instance: RoutedInstance): ModelInfo {
    const snap = this.scheduler.snapshot(instance.name);
    const props = this.props.get(instance.name) ?? null;
    const measured = this.options.vram?.measured(instance.name);
    const learnedCtx = (props as { default_generation_settings?: { n_ctx?: number } } | null)?.default_generation_settings?.n_ctx;
    return {
      id: instance.name,
      instance: instance.name,
      ids: idsOf(instance),
      state: this.options.supervisor.get(instance.name)?.state ?? snap.state,
      onDemand: instance.control.onDemand,
      ttlMs: instance.control.ttlMs,
      expiresAt: snap.expiresAt,
      contextSize: instance.control.contextSize ?? learnedCtx ?? null,
      props,
      port: instance.port,
      host: instance.host,
      queued: snap.queued,
      inFlight: snap.inFlight,
      maxConcurrency: instance.control.maxConcurrency,
      loadMs: snap.loadMs === null ? null : Math.round(snap.loadMs),
      vramMb: measured ?? instance.control.vramMb ?? null,
      vramMeasured: measured !== undefined ? true : instance.control.vramMb === undefined ? null : false,
      modelPath: instance.modelPath ?? null,
    };
  }

  private targetOf(instance: RoutedInstance): UpstreamTarget {
    return { name: instance.name, host: instance.host, port: instance.port, apiKey: instance.control.apiKey };
  }

  /** The grant is held until the body ends, errors or is aborted by the client. */
  private result(instance: RoutedInstance, grant: Grant, response: UpstreamResponse, loadWaitMs: number): ForwardResult {
    const release = () => grant.release();
    response.body.onSettled((aborted) => {
      grant.release();
      if (aborted) this.options.metrics?.disconnects.inc({ model: instance.name });
    });
    return { status: response.status, headers: response.headers, body: response.body, loadWaitMs, release };
  }

  /** 1-token request so the first routed request does not pay for cold caches; then learn /props. */
  private async warm(name: string, signal: AbortSignal): Promise<void> {
    const instance = [...this.byId.values()].find((i) => i.name === name)!;
    const bounded = AbortSignal.any([signal, AbortSignal.timeout(WARM_TIMEOUT_MS)]);
    if (this.options.settings.warmup) {
      const response = await this.upstreams.request(this.targetOf(instance), {
        method: 'POST',
        path: '/v1/completions',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ prompt: 'Hi', max_tokens: 1, stream: false })),
        signal: bounded,
      });
      await response.body.text();
    }
    try {
      const response = await this.upstreams.request(this.targetOf(instance), { method: 'GET', path: '/props', signal: bounded });
      const text = await response.body.text();
      if (response.status === 200) this.props.set(name, JSON.parse(text));
    } catch {
      // Older servers without /props: the config's ctx_size still answers.
    }
    this.learnVram(name);
  }

  /** After the warm-up, so buffers allocated by the first request count; never delays routing. */
  private learnVram(name: string): void {
    const pid = this.readyPid.get(name);
    if (!this.options.vram || !pid) return;
    this.options.vram.learn(name, pid).then(
      (mb) => mb !== undefined && this.scheduler.setVram(name, mb),
      (error: unknown) => this.options.log.warn({ step: 'router', instance: name, err: error }, `measuring the VRAM of ${name} failed`),
    );
  }

  private crashNoticed(name: string, pid: number | null): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        off();
        this.options.clock.clearTimeout(timer);
        resolve();
      };
      const off = this.options.supervisor.onTransition((event) => {
        if (event.instance === name && event.to !== 'ready') done();
      });
      const timer = this.options.clock.setTimeout(done, CRASH_NOTICE_MS);
      const now = this.options.supervisor.get(name);
      if (!now || now.state !== 'ready' || now.pid !== pid) done();
    });
  }
}

export function idsOf(instance: RoutedInstance): string[] {
  const ids = [instance.name, instance.control.serverAlias, ...instance.control.aliases].filter((id): id is string => typeof id === 'string' && id !== '');
  return [...new Set(ids)];
}

function errorText(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e?.code ?? e?.message ?? String(error);
}
