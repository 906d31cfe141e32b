import { describe, expect, it } from 'vitest';

import type { Grant } from '../../../src/router/scheduler.js';
import { RouterError } from '../../../src/router/types.js';
import { model, setup, track } from './scheduler-harness.js';

const errorOf = (out: { error?: unknown }) => out.error as RouterError;

describe('scheduler', () => {
  it('starts a stopped model once for 20 waiting requests and answers all 20', async () => {
    const { clock, sup, scheduler } = setup([model('a', { maxConcurrency: 4 })]);
    const outs = Array.from({ length: 20 }, (_, i) => track(scheduler.submit({ model: 'a', client: `c${i}` })));
    await clock.advance(999);
    expect(outs.filter((o) => o.settled)).toHaveLength(0);
    expect(sup.starts).toBe(1);
    await clock.advance(1);
    expect(outs.filter((o) => o.value)).toHaveLength(4); // max_concurrency
    for (let round = 0; round < 5; round++) {
      for (const o of outs) if (o.value) o.value.release();
      await clock.advance(1);
    }
    expect(outs.every((o) => o.settled === 1 && o.value)).toBe(true);
    expect(sup.starts).toBe(1);
  });

  it('a start that takes no effect answers the queue at once instead of wedging the model', async () => {
    const { clock, sup, scheduler } = setup([model('a')]);
    const real = sup.start.bind(sup);
    sup.start = async () => undefined; // the supervisor ignored it
    const lost = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(0);
    expect(lost.settled).toBe(1);
    expect(errorOf(lost)).toMatchObject({ status: 503, code: 'instance_failed' });
    sup.start = real;
    const next = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(1000);
    expect(next.value).toBeDefined();
    expect(sup.starts).toBe(1);
  });

  it('warms a model before granting its first request', async () => {
    const order: string[] = [];
    let finishWarm!: () => void;
    const { clock, scheduler } = setup([model('a')], {}, {}, async (name) => {
      order.push(`warm ${name}`);
      await new Promise<void>((resolve) => (finishWarm = resolve));
    });
    const out = track(scheduler.submit({ model: 'a', client: 'x' }).then((g) => order.push('granted') && g));
    await clock.advance(1000);
    expect(order).toEqual(['warm a']);
    expect(out.settled).toBe(0);
    finishWarm();
    await clock.advance(0);
    expect(order).toEqual(['warm a', 'granted']);
  });

  it('never blocks a running model behind another model loading', async () => {
    const { clock, scheduler } = setup([model('a'), model('b')], {}, { loadMs: 60_000 });
    const first = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(60_000);
    first.value!.release();
    track(scheduler.submit({ model: 'b', client: 'x' })); // b loads for a minute
    await clock.advance(10);
    const second = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(0);
    expect(second.value?.model).toBe('a');
  });

  it('swaps within a group only after the running request ends, and stops it only when idle', async () => {
    const { clock, sup, scheduler } = setup([model('a', { group: 'big' }), model('b', { group: 'big' })], { groups: { big: { maxRunning: 1 } } });
    sup.check = (action, name) => {
      if (action === 'stop') expect(scheduler.snapshot(name).inFlight).toBe(0);
      if (action === 'start') expect([...sup.states.values()].filter((s) => s !== 'stopped')).toHaveLength(0);
    };
    const a = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(1000);
    const b = track(scheduler.submit({ model: 'b', client: 'x' }));
    await clock.advance(5000);
    expect(sup.state('a')).toBe('ready'); // a is still generating
    expect(sup.state('b')).toBe('stopped');
    // A new request for the victim queues instead of being served.
    const a2 = track(scheduler.submit({ model: 'a', client: 'y' }));
    await clock.advance(0);
    expect(a2.settled).toBe(0);
    a.value!.release();
    await clock.advance(200 + 1000);
    expect(b.value?.model).toBe('b');
    expect(sup.log).toEqual(['a:starting', 'a:ready', 'a:stopping', 'a:stopped', 'b:starting', 'b:ready']);
    // a2 now waits behind b; b has an empty queue, so a comes back once b's request ends.
    b.value!.release();
    await clock.advance(1200);
    expect(a2.value?.model).toBe('a');
  });

  it('waits up to swap_max_wait behind a loaded model that keeps a queue (A B A A B)', async () => {
    const { clock, sup, scheduler } = setup([model('a', { group: 'g' }), model('b', { group: 'g' })], {
      groups: { g: { maxRunning: 1 } },
      swapMaxWaitMs: 30_000,
    });
    let current = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(1000);
    // a keeps a request queued: each ends after 5 s, the next is already waiting.
    let queued = track(scheduler.submit({ model: 'a', client: 'x' }));
    const b = track(scheduler.submit({ model: 'b', client: 'x' }));
    for (let t = 0; t < 25_000; t += 5000) {
      await clock.advance(5000);
      const next = track(scheduler.submit({ model: 'a', client: 'x' }));
      current.value!.release();
      await clock.advance(0);
      current = queued;
      queued = next;
    }
    expect(sup.state('b')).toBe('stopped');
    await clock.advance(5000); // the oldest b request has now waited 30 s
    expect(scheduler.snapshot('a').draining).toBe('swap');
    current.value!.release();
    await clock.advance(1200);
    expect(b.value?.model).toBe('b');
    expect(b.value!.waitedMs).toBeGreaterThanOrEqual(30_000);
  });

  it('counts the TTL from the end of the last request, never during a load, and a late request restarts the model', async () => {
    const { clock, sup, scheduler } = setup([model('a', { ttlMs: 10_000 })], {}, { loadMs: 30_000 });
    const first = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(30_000);
    expect(scheduler.snapshot('a').expiresAt).toBeNull(); // busy
    await clock.advance(20_000);
    first.value!.release();
    await clock.advance(9_999);
    expect(sup.state('a')).toBe('ready');
    await clock.advance(1);
    expect(sup.state('a')).toBe('stopping');
    const late = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(200 + 30_000);
    expect(late.value?.model).toBe('a');
    expect(sup.starts).toBe(2);
  });

  it('keeps the queue through a crash and the backoff restart', async () => {
    const { clock, sup, scheduler } = setup([model('a')], {}, { backoffMs: 2000 });
    track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(500);
    sup.crash('a'); // during the load
    const queued = track(scheduler.submit({ model: 'a', client: 'y' }));
    await clock.advance(2000 + 1000);
    expect(queued.value?.model).toBeUndefined(); // the first one holds the only slot
    expect(sup.starts).toBe(1); // the supervisor restarted it, not the router
  });

  it('answers the queue of a failed model with 503 and its class, and never restarts it', async () => {
    const { clock, sup, scheduler } = setup([model('a')]);
    const out = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(10);
    sup.fail('a', 'bad-argument');
    await clock.advance(0);
    expect(errorOf(out)).toMatchObject({ status: 503, code: 'instance_failed', failureClass: 'bad-argument' });
    const again = track(scheduler.submit({ model: 'a', client: 'x' }));
    await clock.advance(10_000);
    expect(errorOf(again).code).toBe('instance_failed');
    expect(sup.starts).toBe(1);
  });

  it('answers 503 queue_full with a Retry-After when the queue is full, and queue_timeout at the deadline', async () => {
    const { clock, scheduler } = setup([model('a', { maxQueue: 2 })], { queueTimeoutMs: 5000 }, { loadMs: 60_000 });
    const outs = [0, 1, 2].map(() => track(scheduler.submit({ model: 'a', client: 'x' })));
    await clock.advance(0);
    expect(errorOf(outs[2]!)).toBeInstanceOf(RouterError);
    expect(errorOf(outs[2]!)).toMatchObject({ status: 503, code: 'queue_full' });
    expect(errorOf(outs[2]!).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await clock.advance(4999);
    expect(outs[0]!.settled).toBe(0);
    await clock.advance(1);
    expect(errorOf(outs[0]!)).toMatchObject({ status: 503, code: 'queue_timeout' });
    expect(errorOf(outs[1]!).code).toBe('queue_timeout');
  });

  it('serves clients round-robin, each in its own order', async () => {
    const { clock, scheduler } = setup([model('a')]);
    const order: string[] = [];
    const hold = track(scheduler.submit({ model: 'a', client: 'first' }));
    await clock.advance(1000);
    const submit = (client: string, n: number) =>
      scheduler.submit({ model: 'a', client }).then((g: Grant) => {
        order.push(`${client}${n}`);
        return g;
      });
    const grants = [submit('p', 1), submit('p', 2), submit('p', 3), submit('q', 1), submit('q', 2)].map(track);
    hold.value!.release();
    for (let i = 0; i < 5; i++) {
      await clock.advance(0);
      grants.find((g) => g.value && !('done' in g))!.value!.release();
      Object.assign(grants.find((g) => g.value && !('done' in g))!, { done: true });
    }
    expect(order).toEqual(['p1', 'q1', 'p2', 'q2', 'p3']);
  });

  it('drops a request whose client went away while it waited, without starting anything twice', async () => {
    const { clock, sup, scheduler } = setup([model('a')]);
    const ctl = new AbortController();
    const out = track(scheduler.submit({ model: 'a', client: 'x', signal: ctl.signal }));
    ctl.abort();
    await clock.advance(0);
    expect(errorOf(out).code).toBe('client_closed');
    expect(scheduler.totalQueued).toBe(0);
    expect(sup.starts).toBe(1);
  });

  it('keepAliveMs 0 unloads right after the request; unload waits for in-flight work', async () => {
    const { clock, sup, scheduler } = setup([model('a'), model('b')]);
    const a = track(scheduler.submit({ model: 'a', client: 'x', keepAliveMs: 0 }));
    await clock.advance(1000);
    a.value!.release();
    await clock.advance(0);
    expect(sup.state('a')).toBe('stopping');
    const b = track(scheduler.submit({ model: 'b', client: 'x' }));
    await clock.advance(1000);
    const unloaded = track(scheduler.unload('b'));
    await clock.advance(5000);
    expect(sup.state('b')).toBe('ready');
    b.value!.release();
    await clock.advance(200);
    expect(unloaded.settled).toBe(1);
    expect(sup.state('b')).toBe('stopped');
  });
});
