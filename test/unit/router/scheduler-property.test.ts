import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { Grant } from '../../../src/router/scheduler.js';
import { model, setup } from './scheduler-harness.js';

const MODELS = [
  model('a', { group: 'g', maxConcurrency: 2, maxQueue: 6, ttlMs: 3000 }),
  model('b', { group: 'g', maxConcurrency: 1, maxQueue: 6, ttlMs: 0 }),
  model('c', { maxConcurrency: 3, maxQueue: 6, ttlMs: 1000 }),
  model('d', { group: 'g', pinned: true, maxConcurrency: 1, maxQueue: 6, ttlMs: 5000 }),
];
const NAMES = MODELS.map((m) => m.name);
const QUEUE_TIMEOUT = 20_000;
const MAX_QUEUE = 10;

const action = fc.oneof(
  fc.record({ kind: fc.constant('arrive' as const), model: fc.constantFrom(...NAMES), client: fc.constantFrom('x', 'y', 'z'), keepAlive: fc.option(fc.constantFrom(0, 500, -1), { nil: undefined }) }),
  fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('disconnect' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('crash' as const), model: fc.constantFrom(...NAMES) }),
  fc.record({ kind: fc.constant('fail' as const), model: fc.constantFrom(...NAMES) }),
  fc.record({ kind: fc.constant('unload' as const), model: fc.constantFrom(...NAMES) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 8000 }) }),
);

interface Req {
  model: string;
  arrivedAt: number;
  settled: number;
  grant?: Grant;
  released: boolean;
  ctl: AbortController;
}

describe('scheduler property', () => {
  it('answers each request once, stops nothing busy, keeps every limit and deadline', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 60 }), async (actions) => {
        const { clock, sup, scheduler } = setup(MODELS, { queueTimeoutMs: QUEUE_TIMEOUT, maxQueue: MAX_QUEUE, swapMaxWaitMs: 4000, groups: { g: { maxRunning: 2 } } }, { loadMs: 1500, stopMs: 300, backoffMs: 700 });
        const reqs: Req[] = [];
        const violations: string[] = [];
        const inFlight = (name: string) => reqs.filter((r) => r.model === name && r.grant && !r.released).length;
        sup.check = (what, name) => {
          if (what === 'stop' && inFlight(name) > 0) violations.push(`stopped ${name} with ${inFlight(name)} in flight`);
          if (what === 'start') {
            const spec = MODELS.find((m) => m.name === name)!;
            if (spec.group === 'g') {
              const alive = MODELS.filter((m) => m.group === 'g' && m.name !== name && !['stopped', 'failed'].includes(sup.state(m.name)!));
              if (alive.length >= 2) violations.push(`started ${name} beside ${alive.map((m) => m.name).join(',')}`);
            }
          }
        };
        const checkLimits = () => {
          for (const m of MODELS) if (inFlight(m.name) > m.maxConcurrency) violations.push(`${m.name} over max_concurrency`);
          if (scheduler.totalQueued > MAX_QUEUE) violations.push('over max_queue');
          for (const r of reqs) if (r.settled === 0 && clock.now() >= r.arrivedAt + QUEUE_TIMEOUT) violations.push(`${r.model} waited past its deadline`);
          for (const r of reqs) if (r.settled > 1) violations.push('settled twice');
        };
        const live = () => reqs.filter((r) => r.grant && !r.released);
        const waiting = () => reqs.filter((r) => r.settled === 0);

        for (const a of actions) {
          if (a.kind === 'arrive') {
            const r: Req = { model: a.model, arrivedAt: clock.now(), settled: 0, released: false, ctl: new AbortController() };
            reqs.push(r);
            scheduler.submit({ model: a.model, client: a.client, signal: r.ctl.signal, ...(a.keepAlive === undefined ? {} : { keepAliveMs: a.keepAlive }) }).then(
              (grant) => {
                r.settled++;
                r.grant = grant;
              },
              () => void r.settled++,
            );
          } else if (a.kind === 'finish') {
            const r = live()[a.pick % Math.max(1, live().length)];
            if (r) {
              r.released = true;
              r.grant!.release();
            }
          } else if (a.kind === 'disconnect') {
            const r = waiting()[a.pick % Math.max(1, waiting().length)];
            r?.ctl.abort();
          } else if (a.kind === 'crash') sup.crash(a.model);
          else if (a.kind === 'fail') sup.fail(a.model, 'crashed');
          else if (a.kind === 'unload') void scheduler.unload(a.model);
          else await clock.advance(a.ms);
          await clock.advance(0);
          checkLimits();
        }
        // Wind down: finish everything in flight, let every deadline pass.
        for (let i = 0; i < 20; i++) {
          for (const r of live()) {
            r.released = true;
            r.grant!.release();
          }
          await clock.advance(2000);
          checkLimits();
        }
        expect(violations).toEqual([]);
        expect(reqs.filter((r) => r.settled !== 1)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
