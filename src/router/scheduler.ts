/**
 * The router's one scheduler: per-model queues, on-demand starts, warm-up, TTL unloads and swaps.
 * Single writer: every change happens in a method of this class, and `pump` re-evaluates the whole
 * state after each one. The supervisor (start/stop, transitions), the clock, the VRAM wait and the
 * warm-up are injected; nothing here does I/O itself.
 */
import type { InstanceState } from '../supervisor/types.js';
import { ClientQueue } from './client-queue.js';
import type { Clock } from './clock.js';
import { Estimates } from './estimates.js';
import { chooseVictims, fits, type PlacementModel } from './placement.js';
import { RouterError } from './types.js';

export interface SchedulerModel extends PlacementModel {
  /** 0 = never unload. */
  ttlMs: number;
  maxConcurrency: number;
  maxQueue: number;
}

export interface SchedulerOptions {
  maxQueue: number;
  queueTimeoutMs: number;
  swapMaxWaitMs: number;
  groups: Record<string, { maxRunning: number }>;
  gpuBudgetMb: Record<string, number>;
}

export interface SchedulerObserver {
  waited?(model: string, ms: number): void;
  loaded?(model: string, ms: number): void;
  evicted?(model: string, reason: 'swap' | 'ttl' | 'unload'): void;
  rejected?(model: string, code: string): void;
  error?(model: string, step: string, error: unknown): void;
}

export interface SchedulerDeps {
  clock: Clock;
  state(name: string): InstanceState | undefined;
  /** Ask the supervisor; the outcome arrives through `transition`. */
  start(name: string): Promise<unknown>;
  stop(name: string): Promise<unknown>;
  /** Resolves once the GPU has room for `name` (VRAM really freed by the previous model). */
  beforeStart?(name: string, signal: AbortSignal): Promise<void>;
  /** A 1-token request before the first routed one; its failure is logged, not fatal. */
  warm?(name: string, signal: AbortSignal): Promise<void>;
  /** The supervisor's failure class of a failed instance, for the 503 answer. */
  failureClass?(name: string): string | undefined | null;
  observer?: SchedulerObserver;
}

export interface SubmitOptions {
  model: string;
  client: string;
  signal?: AbortSignal;
  /** Unload this long after the request ends (0 = at once; negative or Infinity = never). */
  keepAliveMs?: number;
}

export interface Grant {
  model: string;
  waitedMs: number;
  /** Idempotent: the request no longer holds a slot. */
  release(): void;
}

interface Ticket {
  model: string;
  client: string;
  arrivedAt: number;
  keepAliveMs: number | undefined;
  settled: boolean;
  resolve(grant: Grant): void;
  reject(error: RouterError): void;
  timer: unknown;
  cleanup(): void;
}

interface Runtime {
  spec: SchedulerModel;
  sup: InstanceState;
  queue: ClientQueue<Ticket>;
  inFlight: number;
  warm: boolean;
  warming: AbortController | null;
  /** Start asked (VRAM wait or supervisor) and not yet answered by ready/stopped/failed. */
  starting: AbortController | null;
  loadStartedAt: number | null;
  /** Takes no new requests; stopped once in-flight ones end. */
  draining: 'swap' | 'ttl' | 'unload' | null;
  stopping: boolean;
  /** Victims are draining to make room for this model. */
  claim: boolean;
  lastUsed: number;
  ttlTimer: unknown;
  expiresAt: number | null;
  /** From the last request's keepAliveMs; null = never, undefined = the configured ttl. */
  ttlOverride: number | null | undefined;
  swapTimer: unknown;
  estimates: Estimates;
  waiters: Set<() => void>;
}

const noop = (): void => undefined;

const OCCUPYING: ReadonlySet<InstanceState> = new Set(['starting', 'ready', 'unhealthy', 'stopping', 'backoff']);

export class Scheduler {
  private readonly models = new Map<string, Runtime>();
  private queued = 0;
  private pumping = false;
  private again = false;

  constructor(
    specs: SchedulerModel[],
    private readonly options: SchedulerOptions,
    private readonly deps: SchedulerDeps,
  ) {
    for (const spec of specs) {
      this.models.set(spec.name, {
        spec,
        sup: deps.state(spec.name) ?? 'stopped',
        queue: new ClientQueue<Ticket>(),
        inFlight: 0,
        warm: false,
        warming: null,
        starting: null,
        loadStartedAt: null,
        draining: null,
        stopping: false,
        claim: false,
        lastUsed: 0,
        ttlTimer: undefined,
        expiresAt: null,
        ttlOverride: undefined,
        swapTimer: undefined,
        estimates: new Estimates(),
        waiters: new Set(),
      });
    }
    this.pump();
  }

  has(name: string): boolean {
    return this.models.has(name);
  }

  snapshot(name: string) {
    const m = this.need(name);
    return {
      queued: m.queue.size,
      inFlight: m.inFlight,
      warm: m.warm,
      draining: m.draining,
      expiresAt: m.expiresAt,
      loadMs: m.estimates.loadMs,
      state: m.sup,
    };
  }

  get totalQueued(): number {
    return this.queued;
  }

  submit(options: SubmitOptions): Promise<Grant> {
    const m = this.need(options.model);
    const now = this.deps.clock.now();
    return new Promise<Grant>((resolve, reject) => {
      if (options.signal?.aborted) return reject(new RouterError(499, 'client_closed', 'The client closed the request.'));
      if (m.sup === 'failed') return reject(this.failedError(m));
      const servable = this.servable(m) && m.queue.size === 0 && m.inFlight < m.spec.maxConcurrency;
      if (!servable && (this.queued >= this.options.maxQueue || m.queue.size >= m.spec.maxQueue)) {
        this.deps.observer?.rejected?.(m.spec.name, 'queue_full');
        const which = this.queued >= this.options.maxQueue ? 'router' : `model '${m.spec.name}'`;
        return reject(new RouterError(503, 'queue_full', `The ${which} queue is full; retry later.`, this.retryAfter(m)));
      }
      const ticket: Ticket = {
        model: m.spec.name,
        client: options.client,
        arrivedAt: now,
        keepAliveMs: options.keepAliveMs,
        settled: false,
        resolve,
        reject,
        timer: undefined,
        cleanup: noop,
      };
      if (servable && !this.pumping) {
        // Nothing to wait for: pump would grant it at once, so skip the deadline timer and the
        // abort listener (a per-request cost on the hot path that only a waiting request needs).
        this.grant(m, ticket);
        this.pump();
        return;
      }
      ticket.timer = this.deps.clock.setTimeout(() => this.expire(ticket), this.options.queueTimeoutMs);
      if (options.signal) {
        const signal = options.signal;
        const onAbort = () => this.cancel(ticket);
        signal.addEventListener('abort', onAbort, { once: true });
        ticket.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      m.queue.push(ticket);
      this.queued++;
      this.pump();
    });
  }

  /** The supervisor reports a state change. */
  transition(name: string, to: InstanceState): void {
    const m = this.models.get(name);
    if (!m) return;
    m.sup = to;
    if (to !== 'ready') {
      m.warm = false;
      m.warming?.abort();
      m.warming = null;
    }
    if (to === 'starting' && m.loadStartedAt === null) m.loadStartedAt = this.deps.clock.now();
    if (to === 'stopped' || to === 'failed') {
      m.starting?.abort();
      m.starting = null;
      m.stopping = false;
      m.draining = null;
      m.ttlOverride = undefined;
      m.loadStartedAt = null;
    }
    if (to === 'ready') m.starting = null;
    if (to === 'failed') {
      m.claim = false;
      for (const ticket of m.queue.drain()) {
        this.queued--;
        this.settle(ticket, () => ticket.reject(this.failedError(m)));
      }
    }
    this.pump();
  }

  /** Start now (llama.cpp's /models/load); resolves when ready and warm. */
  load(name: string, signal?: AbortSignal): Promise<void> {
    const m = this.need(name);
    if (m.sup === 'stopped' && !m.starting) {
      m.draining = null;
      this.beginStart(m);
    }
    return this.waitFor(m, () => this.servable(m) || m.sup === 'failed', signal).then(() => {
      if (m.sup === 'failed') throw this.failedError(m);
    });
  }

  /** Unload once in-flight requests end; resolves when stopped. */
  unload(name: string): Promise<void> {
    const m = this.need(name);
    if (m.sup !== 'stopped' && m.sup !== 'failed' && !m.draining) {
      m.draining = 'unload';
      this.deps.observer?.evicted?.(name, 'unload');
    }
    this.pump();
    return this.waitFor(m, () => m.sup === 'stopped' || m.sup === 'failed');
  }

  /** A measured VRAM use replaces the configured one in placement (it may let a waiting model fit). */
  setVram(name: string, mb: number): void {
    const m = this.models.get(name);
    if (!m || m.spec.vramMb === mb) return;
    m.spec = { ...m.spec, vramMb: mb };
    this.pump();
  }

  /** Every waiting request is answered 503 (daemon stopping). */
  close(): void {
    for (const m of this.models.values()) {
      for (const ticket of m.queue.drain()) {
        this.queued--;
        this.settle(ticket, () => ticket.reject(new RouterError(503, 'router_stopping', 'The router is shutting down.', 5)));
      }
      this.deps.clock.clearTimeout(m.ttlTimer);
      this.deps.clock.clearTimeout(m.swapTimer);
      m.warming?.abort();
      m.starting?.abort();
    }
  }

  private need(name: string): Runtime {
    const m = this.models.get(name);
    if (!m) throw new RouterError(404, 'model_not_found', `The model '${name}' does not exist.`);
    return m;
  }

  private servable(m: Runtime): boolean {
    return m.sup === 'ready' && m.warm && m.draining === null;
  }

  private failedError(m: Runtime): RouterError {
    const cls = this.deps.failureClass?.(m.spec.name) ?? undefined;
    const why = cls ? ` (${cls})` : '';
    return new RouterError(503, 'instance_failed', `The model '${m.spec.name}' failed${why}; fix it, then run 'infer-entry start ${m.spec.name}'.`, undefined, cls);
  }

  private retryAfter(m: Runtime): number {
    return m.estimates.retryAfterSeconds(m.queue.size, m.spec.maxConcurrency, m.sup !== 'ready');
  }

  private settle(ticket: Ticket, action: () => void): void {
    if (ticket.settled) return;
    ticket.settled = true;
    this.deps.clock.clearTimeout(ticket.timer);
    ticket.cleanup();
    action();
  }

  private cancel(ticket: Ticket): void {
    const m = this.models.get(ticket.model)!;
    if (ticket.settled || !m.queue.remove(ticket)) return;
    this.queued--;
    this.settle(ticket, () => ticket.reject(new RouterError(499, 'client_closed', 'The client closed the request.')));
    this.pump();
  }

  private expire(ticket: Ticket): void {
    const m = this.models.get(ticket.model)!;
    if (ticket.settled || !m.queue.remove(ticket)) return;
    this.queued--;
    this.deps.observer?.rejected?.(m.spec.name, 'queue_timeout');
    const error = new RouterError(503, 'queue_timeout', `The request waited the whole queue_timeout for '${m.spec.name}'; retry later.`, this.retryAfter(m));
    this.settle(ticket, () => ticket.reject(error));
    this.pump();
  }

  private grant(m: Runtime, ticket: Ticket): void {
    const now = this.deps.clock.now();
    m.inFlight++;
    m.lastUsed = now;
    let released = false;
    const waitedMs = now - ticket.arrivedAt;
    this.deps.observer?.waited?.(m.spec.name, waitedMs);
    this.settle(ticket, () =>
      ticket.resolve({
        model: m.spec.name,
        waitedMs,
        release: () => {
          if (released) return;
          released = true;
          m.inFlight--;
          const end = this.deps.clock.now();
          m.lastUsed = end;
          m.estimates.noteService(end - now);
          if (ticket.keepAliveMs !== undefined) m.ttlOverride = ticket.keepAliveMs < 0 || !Number.isFinite(ticket.keepAliveMs) ? null : ticket.keepAliveMs;
          this.pump();
        },
      }),
    );
  }

  private waitFor(m: Runtime, done: () => boolean, signal?: AbortSignal): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        m.waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        m.waiters.delete(check);
        reject(new RouterError(499, 'client_closed', 'The client closed the request.'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      m.waiters.add(check);
    });
  }

  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        for (const m of this.models.values()) this.step(m);
        this.place();
        for (const m of this.models.values()) for (const waiter of [...m.waiters]) waiter();
      } while (this.again);
    } finally {
      this.pumping = false;
    }
  }

  /** One model on its own: warm, serve, stop a drained victim, count its TTL. */
  private step(m: Runtime): void {
    if (m.sup === 'ready' && !m.warm && !m.warming) this.beginWarm(m);
    if (m.draining && m.inFlight === 0 && !m.stopping && m.sup !== 'stopped' && m.sup !== 'failed') {
      m.stopping = true;
      this.deps.stop(m.spec.name).catch((error: unknown) => {
        m.stopping = false;
        this.deps.observer?.error?.(m.spec.name, 'stop', error);
      });
    }
    while (this.servable(m) && m.inFlight < m.spec.maxConcurrency && m.queue.size > 0) {
      this.queued--;
      this.grant(m, m.queue.shift()!);
    }
    if (m.claim && m.queue.size === 0) m.claim = false;
    const idle = this.servable(m) && m.inFlight === 0 && m.queue.size === 0;
    const ttl = m.ttlOverride !== undefined ? m.ttlOverride : m.spec.ttlMs > 0 ? m.spec.ttlMs : null;
    if (idle && ttl !== null) {
      if (m.expiresAt === null) {
        m.expiresAt = this.deps.clock.now() + ttl;
        m.ttlTimer = this.deps.clock.setTimeout(() => this.ttlExpired(m), Math.max(0, m.expiresAt - this.deps.clock.now()));
      }
    } else if (m.expiresAt !== null) {
      this.deps.clock.clearTimeout(m.ttlTimer);
      m.expiresAt = null;
    }
  }

  private ttlExpired(m: Runtime): void {
    m.expiresAt = null;
    if (!(this.servable(m) && m.inFlight === 0 && m.queue.size === 0)) return this.pump();
    m.draining = 'ttl';
    this.deps.observer?.evicted?.(m.spec.name, 'ttl');
    this.pump();
  }

  private occupying(): Runtime[] {
    return [...this.models.values()].filter((m) => OCCUPYING.has(m.sup) || m.starting !== null || m.claim);
  }

  /** Start the models that have work and no process, making room by draining victims. */
  private place(): void {
    const waiting = [...this.models.values()]
      .filter((m) => m.queue.size > 0 && m.sup === 'stopped' && m.starting === null && !m.stopping)
      .sort((a, b) => Number(b.claim) - Number(a.claim) || (a.queue.oldest() ?? 0) - (b.queue.oldest() ?? 0));
    const now = this.deps.clock.now();
    for (const m of waiting) {
      const occupying = this.occupying().map((o) => o.spec);
      if (fits(this.options, m.spec, occupying)) {
        this.beginStart(m);
        continue;
      }
      if (m.claim) continue; // victims are already draining for it
      const leaving = new Set([...this.models.values()].filter((o) => o.draining !== null || o.sup === 'stopping').map((o) => o.spec.name));
      const staying = occupying.filter((o) => !leaving.has(o.name));
      const preference = [...this.models.values()]
        .filter((o) => (o.sup === 'ready' || o.sup === 'unhealthy' || o.sup === 'backoff') && o.starting === null && !leaving.has(o.spec.name))
        .sort((a, b) => Number(b.inFlight === 0 && b.queue.size === 0) - Number(a.inFlight === 0 && a.queue.size === 0) || a.lastUsed - b.lastUsed);
      const victims = chooseVictims(this.options, m.spec, staying, preference.map((o) => o.spec));
      if (victims === null) continue; // pinned neighbours: wait for the deadline
      const oldest = m.queue.oldest() ?? now;
      const patient = now - oldest >= this.options.swapMaxWaitMs;
      const runtimes = victims.map((v) => this.models.get(v.name)!);
      if (patient || runtimes.every((v) => v.queue.size === 0)) {
        for (const v of runtimes) {
          v.draining = 'swap';
          this.deps.observer?.evicted?.(v.spec.name, 'swap');
        }
        m.claim = true;
        this.again = true;
      } else {
        this.deps.clock.clearTimeout(m.swapTimer);
        m.swapTimer = this.deps.clock.setTimeout(() => this.pump(), oldest + this.options.swapMaxWaitMs - now);
      }
    }
  }

  private beginStart(m: Runtime): void {
    const ctl = new AbortController();
    m.starting = ctl;
    m.claim = false;
    m.loadStartedAt = this.deps.clock.now();
    const name = m.spec.name;
    const run = async () => {
      if (this.deps.beforeStart) await this.deps.beforeStart(name, ctl.signal);
      if (ctl.signal.aborted) return;
      await this.deps.start(name);
    };
    run().catch((error: unknown) => {
      if (m.starting !== ctl) return;
      m.starting = null;
      this.deps.observer?.error?.(name, 'start', error);
      for (const ticket of m.queue.drain()) {
        this.queued--;
        this.settle(ticket, () => ticket.reject(new RouterError(503, 'instance_failed', `The model '${name}' could not be started: ${error instanceof Error ? error.message : String(error)}`)));
      }
      this.pump();
    });
  }

  private beginWarm(m: Runtime): void {
    const ctl = new AbortController();
    m.warming = ctl;
    const finish = () => {
      if (m.warming !== ctl) return;
      m.warming = null;
      m.warm = true;
      if (m.loadStartedAt !== null) this.deps.observer?.loaded?.(m.spec.name, this.deps.clock.now() - m.loadStartedAt);
      if (m.loadStartedAt !== null) m.estimates.noteLoad(this.deps.clock.now() - m.loadStartedAt);
      m.loadStartedAt = null;
      this.pump();
    };
    if (!this.deps.warm) return finish();
    this.deps.warm(m.spec.name, ctl.signal).then(finish, (error: unknown) => {
      if (m.warming === ctl) this.deps.observer?.error?.(m.spec.name, 'warm-up', error);
      finish();
    });
  }
}
