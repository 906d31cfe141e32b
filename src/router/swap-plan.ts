/**
 * Which waiting models start now and which loaded ones are drained to make room for them. Reads
 * the scheduler's state and acts only through the actions it is handed, so the scheduler stays the
 * one writer; victim order and fit are the pure rules of placement.ts.
 */
import type { InstanceState } from '../supervisor/types.js';
import { chooseVictims, fits } from './placement.js';
import type { Runtime, SchedulerOptions } from './scheduler-state.js';

export interface PlacementActions {
  start(m: Runtime): void;
  /** `victims` stop taking requests and are stopped once idle, to make room for `m`. */
  evict(victims: Runtime[], m: Runtime): void;
  /** Look again at `at`: the oldest request for `m` will then have waited swap_max_wait. */
  recheckAt(m: Runtime, at: number): void;
}

const OCCUPYING: ReadonlySet<InstanceState> = new Set(['starting', 'ready', 'unhealthy', 'stopping', 'backoff']);

/** Models holding a process, a start in progress, or a promised slot. */
function occupying(models: Runtime[]): Runtime[] {
  return models.filter((m) => OCCUPYING.has(m.sup) || m.starting !== null || m.claim);
}

/** Start the models that have work and no process, making room by draining victims. */
export function placeWaiting(models: Runtime[], options: SchedulerOptions, now: number, act: PlacementActions): void {
  const waiting = models
    .filter((m) => m.queue.size > 0 && m.sup === 'stopped' && m.starting === null && !m.stopping)
    .sort((a, b) => Number(b.claim) - Number(a.claim) || (a.queue.oldest() ?? 0) - (b.queue.oldest() ?? 0));
  for (const m of waiting) {
    // Recomputed for each: a start or an eviction just decided changes who occupies what.
    const holding = occupying(models).map((o) => o.spec);
    if (fits(options, m.spec, holding)) {
      act.start(m);
      continue;
    }
    if (m.claim) continue; // victims are already draining for it
    const leaving = new Set(models.filter((o) => o.draining !== null || o.sup === 'stopping').map((o) => o.spec.name));
    const staying = holding.filter((o) => !leaving.has(o.name));
    const idleFirst = (o: Runtime) => Number(o.inFlight === 0 && o.queue.size === 0);
    const preference = models
      .filter((o) => (o.sup === 'ready' || o.sup === 'unhealthy' || o.sup === 'backoff') && o.starting === null && !leaving.has(o.spec.name))
      .sort((a, b) => idleFirst(b) - idleFirst(a) || a.lastUsed - b.lastUsed);
    const victims = chooseVictims(options, m.spec, staying, preference.map((o) => o.spec));
    if (victims === null) continue; // pinned neighbours: wait for the deadline
    const oldest = m.queue.oldest() ?? now;
    const patient = now - oldest >= options.swapMaxWaitMs;
    const runtimes = victims.map((v) => models.find((o) => o.spec.name === v.name)!);
    if (patient || runtimes.every((v) => v.queue.size === 0)) act.evict(runtimes, m);
    else act.recheckAt(m, oldest + options.swapMaxWaitMs);
  }
}
