import { describe, expect, it } from 'vitest';
import { RestartTracker } from '../../../src/supervisor/restart-policy.js';
import { fastSupervision } from './fixtures.js';

const settings = fastSupervision({
  backoff: { initialMs: 1_000, maxMs: 60_000, multiplier: 2, jitter: 0.2, resetAfterMs: 60_000 },
  crashLoop: { maxUnreadyStarts: 5, maxRestarts: 10, windowMs: 600_000 },
});
const delays = (tracker: RestartTracker, n: number, cls: 'crashed' | 'out-of-memory' = 'crashed') =>
  Array.from({ length: n }, (_, i) => {
    const d = tracker.decide(i * 120_000, cls);
    return d.restart ? d.delayMs : d.reason;
  });

describe('restart policy', () => {
  it('doubles the delay from 1 s up to the 60 s cap', () => {
    expect(delays(new RestartTracker(settings, () => 0.5), 8)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
  });

  it('applies ±20 % jitter', () => {
    expect(new RestartTracker(settings, () => 0).decide(0, 'crashed')).toMatchObject({ delayMs: 800 });
    expect(new RestartTracker(settings, () => 0.999999).decide(0, 'crashed')).toMatchObject({ delayMs: 1_200 });
  });

  it('resets the backoff after a stable period of readiness', () => {
    const tracker = new RestartTracker(settings, () => 0.5);
    expect(delays(tracker, 3)).toEqual([1_000, 2_000, 4_000]);
    tracker.noteReady();
    expect(tracker.decide(1e6, 'crashed')).toMatchObject({ delayMs: 8_000 });
    tracker.noteStable();
    expect(tracker.decide(2e6, 'crashed')).toMatchObject({ delayMs: 1_000 });
  });

  it('waits four times longer after an out-of-memory exit', () => {
    expect(new RestartTracker(settings, () => 0.5).decide(0, 'out-of-memory')).toMatchObject({ restart: true, delayMs: 4_000 });
  });

  it('fails after 5 starts in a row that never became ready', () => {
    const tracker = new RestartTracker(settings, () => 0.5);
    const results = Array.from({ length: 5 }, (_, i) => {
      tracker.noteUnreadyExit();
      return tracker.decide(i * 1e6, 'crashed').restart;
    });
    expect(results).toEqual([true, true, true, true, false]);
  });

  it('fails after 10 restarts within 10 minutes but not when they are spread out', () => {
    const burst = new RestartTracker(settings, () => 0.5);
    const inWindow = Array.from({ length: 11 }, (_, i) => burst.decide(i * 1_000, 'crashed').restart);
    expect(inWindow.slice(0, 10).every(Boolean)).toBe(true);
    expect(inWindow[10]).toBe(false);
    const spread = new RestartTracker(settings, () => 0.5);
    expect(Array.from({ length: 30 }, (_, i) => spread.decide(i * 120_000, 'crashed').restart).every(Boolean)).toBe(true);
  });

  it('gives a class a restart cannot fix only two tries', () => {
    const tracker = new RestartTracker(settings, () => 0.5);
    expect(tracker.decide(0, 'bad-argument').restart).toBe(true);
    const second = tracker.decide(1, 'bad-argument');
    expect(second).toMatchObject({ restart: false });
    expect(second.reason).toMatch(/bad-argument 2 times in a row/);
  });

  it('a manual start forgives a crash loop', () => {
    const tracker = new RestartTracker(settings, () => 0.5);
    for (let i = 0; i < 5; i++) tracker.noteUnreadyExit();
    expect(tracker.decide(0, 'crashed').restart).toBe(false);
    tracker.reset();
    expect(tracker.decide(0, 'crashed')).toMatchObject({ restart: true, delayMs: 1_000 });
  });
});
