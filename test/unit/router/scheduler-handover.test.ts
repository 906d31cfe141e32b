import { describe, expect, it } from 'vitest';

import { Scheduler, type SchedulerModel } from '../../../src/router/scheduler.js';
import { model, OPTIONS, setup, track, type FakeSupervisor, type ManualClock } from './scheduler-harness.js';

/** The scheduler a reload builds: same supervisor and clock; every scheduler still alive hears transitions. */
function successor(clock: ManualClock, sup: FakeSupervisor, models: SchedulerModel[], alive: Scheduler[]): Scheduler {
  const next = new Scheduler(models, OPTIONS, { clock, state: (name) => sup.state(name), start: (name) => sup.start(name), stop: (name) => sup.stop(name) });
  alive.push(next);
  sup.onTransition = (name, to) => {
    for (const s of alive) s.transition(name, to);
  };
  return next;
}

describe('scheduler hand-over (reconfiguration)', () => {
  it('moves waiting requests to the next scheduler, which keeps in-flight ones alive until they end', async () => {
    const { clock, sup, scheduler: old } = setup([model('a', { ttlMs: 100 }), model('b', { ttlMs: 100 })]);
    const running = track(old.submit({ model: 'a', client: 'x' }));
    await clock.advance(1000);
    const waiting = track(old.submit({ model: 'a', client: 'y' })); // max_concurrency 1
    const next = successor(clock, sup, [model('a', { ttlMs: 100 })], [old]);
    const orphan = track(old.submit({ model: 'b', client: 'z' })); // b is not in the new config
    old.handOver(next);
    const drained = track(old.whenDrained());
    await clock.advance(10_000);
    expect(sup.state('a')).toBe('ready'); // the 100 ms TTL never ran while a request was in flight
    expect(waiting.settled).toBe(0);
    expect(orphan.error).toMatchObject({ status: 503, code: 'router_stopping' });
    expect(next.snapshot('a')).toMatchObject({ inFlight: 1, queued: 1 });
    running.value!.release();
    await clock.advance(1);
    expect(waiting.value?.model).toBe('a'); // served by the next scheduler
    expect(drained.settled).toBe(0); // still running through the old router's path
    waiting.value!.release();
    await clock.advance(1);
    expect(drained.settled).toBe(1);
    await clock.advance(200);
    expect(sup.state('a')).toBe('stopping'); // now idle: the next scheduler's TTL applies
    expect(sup.log.filter((e) => e === 'a:starting')).toHaveLength(1);
  });

  it('counts a retry the old router makes after the reload until it ends', async () => {
    const { clock, sup, scheduler: old } = setup([model('a')]);
    const first = track(old.submit({ model: 'a', client: 'x' }));
    await clock.advance(1000);
    const next = successor(clock, sup, [model('a')], [old]);
    old.handOver(next);
    first.value!.release(); // its instance died before answering: the old core retries
    const retry = track(old.submit({ model: 'a', client: 'x' }));
    await clock.advance(1);
    expect(retry.value?.model).toBe('a');
    expect(next.snapshot('a').inFlight).toBe(1); // granted by the next scheduler
    const drained = track(old.whenDrained());
    await clock.advance(1);
    expect(drained.settled).toBe(0); // the old router must not close under it
    retry.value!.release();
    await clock.advance(1);
    expect(drained.settled).toBe(1);
  });

  it('counts a request across two reloads in a row, and frees its slot in the newest when it ends', async () => {
    const { clock, sup, scheduler: first } = setup([model('a', { ttlMs: 100 })]);
    const running = track(first.submit({ model: 'a', client: 'x' }));
    await clock.advance(1000);
    const alive = [first];
    const second = successor(clock, sup, [model('a', { ttlMs: 100 })], alive);
    first.handOver(second);
    const third = successor(clock, sup, [model('a', { ttlMs: 100 })], alive);
    second.handOver(third);
    await clock.advance(5000);
    expect(sup.state('a')).toBe('ready');
    expect(third.snapshot('a').inFlight).toBe(1);
    running.value!.release();
    await clock.advance(1);
    expect(third.snapshot('a').inFlight).toBe(0);
    const drained = [track(first.whenDrained()), track(second.whenDrained())];
    await clock.advance(200);
    expect(drained.map((d) => d.settled)).toEqual([1, 1]);
    expect(sup.state('a')).toBe('stopping'); // idle in the newest: its TTL ran
  });
});
