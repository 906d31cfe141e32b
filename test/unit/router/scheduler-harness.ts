/** A hand-driven clock and a supervisor stand-in that follows the real state machine's order. */
import type { Clock } from '../../../src/router/clock.js';
import { Scheduler, type SchedulerModel, type SchedulerOptions } from '../../../src/router/scheduler.js';
import type { InstanceState } from '../../../src/supervisor/types.js';

export class ManualClock implements Clock {
  private t = 1_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Run every timer due within `ms`, in order, letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await flush();
  }
  pending(): number {
    return this.timers.size;
  }
}

export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

export interface FakeSupOptions {
  loadMs?: number;
  stopMs?: number;
  backoffMs?: number;
}

/** Starts, stops and crashes on the manual clock; reports every transition to the scheduler. */
export class FakeSupervisor {
  readonly states = new Map<string, InstanceState>();
  readonly log: string[] = [];
  starts = 0;
  failureClasses = new Map<string, string>();
  onTransition: (name: string, to: InstanceState) => void = () => undefined;
  /** Called on every start/stop, before acting: assertions about what the scheduler asks. */
  check: (action: 'start' | 'stop', name: string) => void = () => undefined;
  private readonly generation = new Map<string, number>();

  constructor(
    private readonly clock: ManualClock,
    names: string[],
    private readonly options: FakeSupOptions = {},
  ) {
    for (const name of names) this.states.set(name, 'stopped');
  }

  state(name: string): InstanceState | undefined {
    return this.states.get(name);
  }

  set(name: string, to: InstanceState): void {
    this.states.set(name, to);
    this.log.push(`${name}:${to}`);
    this.onTransition(name, to);
  }

  async start(name: string): Promise<void> {
    this.check('start', name);
    this.starts++;
    this.set(name, 'starting');
    this.scheduleReady(name);
  }

  private scheduleReady(name: string): void {
    const gen = this.bump(name);
    this.clock.setTimeout(() => {
      if (this.generation.get(name) === gen && this.states.get(name) === 'starting') this.set(name, 'ready');
    }, this.options.loadMs ?? 1000);
  }

  async stop(name: string): Promise<void> {
    this.check('stop', name);
    const gen = this.bump(name);
    this.set(name, 'stopping');
    await new Promise<void>((resolve) => {
      this.clock.setTimeout(() => {
        if (this.generation.get(name) === gen) this.set(name, 'stopped');
        resolve();
      }, this.options.stopMs ?? 200);
    });
  }

  /** The process died: back off, then start again (the supervisor's own restart). */
  crash(name: string): void {
    if (this.states.get(name) !== 'ready' && this.states.get(name) !== 'starting') return;
    const gen = this.bump(name);
    this.set(name, 'backoff');
    this.clock.setTimeout(() => {
      if (this.generation.get(name) !== gen) return;
      this.set(name, 'starting');
      this.scheduleReady(name);
    }, this.options.backoffMs ?? 500);
  }

  fail(name: string, cls: string): void {
    this.bump(name);
    this.failureClasses.set(name, cls);
    this.set(name, 'failed');
  }

  private bump(name: string): number {
    const gen = (this.generation.get(name) ?? 0) + 1;
    this.generation.set(name, gen);
    return gen;
  }
}

export function model(name: string, extra: Partial<SchedulerModel> = {}): SchedulerModel {
  return { name, group: undefined, gpus: [], vramMb: undefined, pinned: false, ttlMs: 0, maxConcurrency: 1, maxQueue: 100, ...extra };
}

export const OPTIONS: SchedulerOptions = { maxQueue: 256, queueTimeoutMs: 600_000, swapMaxWaitMs: 30_000, groups: {}, gpuBudgetMb: {} };

export function setup(models: SchedulerModel[], options: Partial<SchedulerOptions> = {}, supOptions: FakeSupOptions = {}, warm?: (name: string) => Promise<void>) {
  const clock = new ManualClock();
  const sup = new FakeSupervisor(clock, models.map((m) => m.name), supOptions);
  const scheduler = new Scheduler(models, { ...OPTIONS, ...options }, {
    clock,
    state: (name) => sup.state(name),
    start: (name) => sup.start(name),
    stop: (name) => sup.stop(name),
    failureClass: (name) => sup.failureClasses.get(name),
    ...(warm ? { warm } : {}),
  });
  sup.onTransition = (name, to) => scheduler.transition(name, to);
  return { clock, sup, scheduler };
}

/** Track a submit's outcome without awaiting it. */
export function track<T>(promise: Promise<T>) {
  const out: { value?: T; error?: unknown; settled: number } = { settled: 0 };
  promise.then(
    (value) => {
      out.value = value;
      out.settled++;
    },
    (error: unknown) => {
      out.error = error;
      out.settled++;
    },
  );
  return out;
}
