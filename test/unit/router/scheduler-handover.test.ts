import { describe, expect, it } from 'vitest';

import { Scheduler } from '../../../src/router/scheduler.js';
import { model, OPTIONS, setup, track } from './scheduler-harness.js';

describe('scheduler hand-over (reconfiguration)', () => {
  it('moves waiting requests to the next scheduler, which keeps in-flight ones alive until they end', async () => {
    const models = [model('a', { ttlMs: 100 }), model('b', { group: 'g', ttlMs: 100 })];
    const { clock, sup, scheduler: old } = setup(models);
    const running = track(old.submit({ model: 'a', client: 'x' }));
    await clock.advance(1000);
    const waiting = track(old.submit({ model: 'a', client: 'y' })); // max_concurrency 1
    const next = new Scheduler([model('a', { ttlMs: 100 })], { ...OPTIONS, queueTimeoutMs: 600_000 }, {
      clock,
      state: (name) => sup.state(name),
      start: (name) => sup.start(name),
      stop: (name) => sup.stop(name),
    });
    sup.onTransition = (name, to) => {
      old.transition(name, to);
      next.transition(name, to);
    };
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
});
