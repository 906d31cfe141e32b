/**
 * The router's one scheduler: per-model queues, on-demand starts, warm-up, TTL unloads and swaps.
 * Single writer: every change happens in a method of this class (or a helper it calls on one
 * model's runtime), and `pump` re-evaluates the whole state after each one. The supervisor
 * (start/stop, transitions), the clock, the VRAM wait and the warm-up are injected; nothing here
 * does I/O itself. TTL counting, swap planning and error answers live beside it.
 */
import type { InstanceState } from '../supervisor/types.js';
import * as answer from './scheduler-errors.js';
import { idle, inherit, newRuntime, noteTransition, quiesce, servable, waitFor, type Grant, type Runtime, type SchedulerDeps, type SchedulerModel, type SchedulerOptions, type SubmitOptions, type Ticket } from './scheduler-state.js';
import { armTicket, grantTicket, grantUntilFinished, newTicket, settle, untilFinished } from './scheduler-tickets.js';
import { countTtl } from './scheduler-ttl.js';
import { placeWaiting, type PlacementActions } from './swap-plan.js';
import type { RouterError } from './types.js';

export type { Grant, SchedulerDeps, SchedulerModel, SchedulerOptions, SubmitOptions } from './scheduler-state.js';

export class Scheduler {
  private readonly models = new Map<string, Runtime>();
  private queued = 0;
  private pumping = false;
  private again = false;
  /** Set by handOver: this scheduler decides nothing more; requests go to the heir. */
  private heir: Scheduler | null = null;
  private drained: Array<() => void> = [];
  /** Handed-over requests whose caller still runs here (its upstream call, its response). */
  private movedOut = 0;
  private readonly placement: PlacementActions = {
    start: (m) => this.beginStart(m),
    evict: (victims, m) => {
      for (const v of victims) {
        v.draining = 'swap';
        this.deps.observer?.evicted?.(v.spec.name, 'swap');
      }
      m.claim = true;
      this.again = true;
    },
    recheckAt: (m, at) => {
      this.deps.clock.clearTimeout(m.swapTimer);
      m.swapTimer = this.deps.clock.setTimeout(() => this.pump(), at - this.deps.clock.now());
    },
  };

  constructor(
    specs: SchedulerModel[],
    private readonly options: SchedulerOptions,
    private readonly deps: SchedulerDeps,
  ) {
    for (const spec of specs) {
      const m = newRuntime(spec, deps.state(spec.name) ?? 'stopped');
      // A warm-up per reload would cost each loaded model a request for nothing (the process is the
      // same one; a restart by the reload passes through a state that clears `warm` first).
      m.warm = m.sup === 'ready' && deps.alreadyWarm?.(spec.name) === true;
      this.models.set(spec.name, m);
    }
    this.pump();
  }

  has(name: string): boolean {
    return this.models.has(name);
  }

  /** Ready and warmed: what every forwarded request asks (without building a snapshot). */
  isWarm(name: string): boolean {
    return this.need(name).warm;
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
    // A retry by the old router's core after a reload: it still runs there, so it still counts here.
    if (this.heir) return grantUntilFinished(this.heir.submit(options), this.moved());
    const m = this.need(options.model);
    const now = this.deps.clock.now();
    return new Promise<Grant>((resolve, reject) => {
      if (options.signal?.aborted) return reject(answer.clientClosed());
      if (m.sup === 'failed') return reject(this.failedError(m));
      const immediate = servable(m) && m.queue.size === 0 && m.inFlight < m.spec.maxConcurrency;
      if (!immediate && (this.queued >= this.options.maxQueue || m.queue.size >= m.spec.maxQueue)) {
        this.deps.observer?.rejected?.(m.spec.name, 'queue_full');
        return reject(answer.queueFull(m, this.queued >= this.options.maxQueue));
      }
      const ticket = newTicket(m.spec.name, options, now, resolve, reject);
      if (immediate && !this.pumping) {
        // Nothing to wait for: pump would grant it at once, so skip the deadline timer and the
        // abort listener (a per-request cost on the hot path that only a waiting request needs).
        this.grant(m, ticket);
        this.pump();
        return;
      }
      armTicket(ticket, this.deps.clock, this.options.queueTimeoutMs, () => this.expire(ticket), options.signal, () => this.cancel(ticket));
      m.queue.push(ticket);
      this.queued++;
      this.pump();
    });
  }

  /** The supervisor reports a state change. */
  transition(name: string, to: InstanceState): void {
    const m = this.models.get(name);
    if (!m) return;
    noteTransition(m, to, this.deps.clock.now());
    if (to === 'failed') {
      m.claim = false;
      this.rejectQueue(m, () => this.failedError(m));
    }
    this.pump();
  }

  /** Start now (llama.cpp's /models/load); resolves when ready and warm. */
  load(name: string, signal?: AbortSignal): Promise<void> {
    if (this.heir) return this.heir.load(name, signal);
    const m = this.need(name);
    if (m.sup === 'stopped' && !m.starting) {
      m.draining = null;
      this.beginStart(m);
    }
    return waitFor(m, () => servable(m) || m.sup === 'failed', signal).then(() => {
      if (m.sup === 'failed') throw this.failedError(m);
    });
  }

  /** Unload once in-flight requests end; resolves when stopped. */
  unload(name: string): Promise<void> {
    if (this.heir) return this.heir.unload(name);
    const m = this.need(name);
    if (m.sup !== 'stopped' && m.sup !== 'failed' && !m.draining) {
      m.draining = 'unload';
      this.deps.observer?.evicted?.(name, 'unload');
    }
    this.pump();
    return waitFor(m, () => m.sup === 'stopped' || m.sup === 'failed');
  }

  /** A measured VRAM use replaces the configured one in placement (it may let a waiting model fit). */
  setVram(name: string, mb: number): void {
    const m = this.models.get(name);
    if (!m || m.spec.vramMb === mb) return;
    m.spec = { ...m.spec, vramMb: mb };
    this.pump();
  }

  /**
   * A reconfiguration: `next` decides from now on. Waiting requests move to it with their deadlines;
   * requests in flight keep their slot there (nothing they run on is stopped or swapped before they
   * end) and finish here. A model `next` does not know answers its waiting requests 503.
   */
  handOver(next: Scheduler): void {
    this.heir = next;
    for (const m of this.models.values()) {
      quiesce(m, this.deps.clock);
      const n = next.models.get(m.spec.name);
      if (n) inherit(n, m, () => next.pump());
      for (const ticket of m.queue.drain()) {
        this.queued--;
        this.deps.clock.clearTimeout(ticket.timer);
        ticket.cleanup();
        if (n) next.adopt(n, untilFinished(ticket, this.moved()));
        else this.settle(ticket, () => ticket.reject(answer.stopping()));
      }
    }
    next.pump();
    this.pump();
  }

  /** After handOver: resolves once no request that came through here is still running (safe to close). */
  whenDrained(): Promise<void> {
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private isDrained(): boolean {
    return this.movedOut === 0 && [...this.models.values()].every((m) => m.inFlight === 0);
  }

  /** Counts a request that runs through here but is queued or granted by the heir; call the result when it ends. */
  private moved(): () => void {
    this.movedOut++;
    return () => {
      this.movedOut--;
      this.pump();
    };
  }

  /** Every waiting request is answered 503 (daemon stopping). */
  close(): void {
    for (const m of this.models.values()) {
      this.rejectQueue(m, answer.stopping);
      quiesce(m, this.deps.clock);
    }
  }

  /** A waiting request handed over by the previous scheduler, its deadline unchanged. */
  private adopt(m: Runtime, ticket: Ticket): void {
    const left = Math.max(0, ticket.arrivedAt + this.options.queueTimeoutMs - this.deps.clock.now());
    armTicket(ticket, this.deps.clock, left, () => this.expire(ticket), ticket.signal, () => this.cancel(ticket));
    m.queue.push(ticket);
    this.queued++;
  }

  private need(name: string): Runtime {
    const m = this.models.get(name);
    if (!m) throw answer.notFound(name);
    return m;
  }

  private failedError(m: Runtime): RouterError {
    return answer.failed(m, this.deps.failureClass?.(m.spec.name) ?? undefined);
  }

  private settle(ticket: Ticket, action: () => void): void {
    settle(ticket, this.deps.clock, action);
  }

  private rejectQueue(m: Runtime, error: () => RouterError): void {
    for (const ticket of m.queue.drain()) {
      this.queued--;
      this.settle(ticket, () => ticket.reject(error()));
    }
  }

  private cancel(ticket: Ticket): void {
    const m = this.models.get(ticket.model)!;
    if (ticket.settled || !m.queue.remove(ticket)) return;
    this.queued--;
    this.settle(ticket, () => ticket.reject(answer.clientClosed()));
    this.pump();
  }

  private expire(ticket: Ticket): void {
    const m = this.models.get(ticket.model)!;
    if (ticket.settled || !m.queue.remove(ticket)) return;
    this.queued--;
    this.deps.observer?.rejected?.(m.spec.name, 'queue_timeout');
    const error = answer.queueTimeout(m);
    this.settle(ticket, () => ticket.reject(error));
    this.pump();
  }

  private grant(m: Runtime, ticket: Ticket): void {
    grantTicket(m, ticket, this.deps.clock, this.deps.observer, () => this.pump());
  }

  private pump(): void {
    if (this.heir) {
      if (this.drained.length > 0 && this.isDrained()) for (const resolve of this.drained.splice(0)) resolve();
      return;
    }
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        for (const m of this.models.values()) this.step(m);
        placeWaiting([...this.models.values()], this.options, this.deps.clock.now(), this.placement);
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
    while (servable(m) && m.inFlight < m.spec.maxConcurrency && m.queue.size > 0) {
      this.queued--;
      this.grant(m, m.queue.shift()!);
    }
    if (m.claim && m.queue.size === 0) m.claim = false;
    countTtl(m, this.deps.clock, () => this.ttlExpired(m));
  }

  private ttlExpired(m: Runtime): void {
    m.expiresAt = null;
    if (!idle(m)) return this.pump();
    m.draining = 'ttl';
    this.deps.observer?.evicted?.(m.spec.name, 'ttl');
    this.pump();
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
      // A start that took no effect would leave the model 'starting' here for good, every request
      // for it waiting out its deadline (a wedge): answer them now; the next request tries again.
      if (m.starting === ctl && m.sup === 'stopped') throw new Error('the supervisor did not start it');
    };
    run().catch((error: unknown) => {
      if (m.starting !== ctl) return;
      m.starting = null;
      this.deps.observer?.error?.(name, 'start', error);
      this.rejectQueue(m, () => answer.startFailed(m, error));
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
      if (m.loadStartedAt !== null) {
        const ms = this.deps.clock.now() - m.loadStartedAt;
        this.deps.observer?.loaded?.(m.spec.name, ms);
        m.estimates.noteLoad(ms);
      }
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
