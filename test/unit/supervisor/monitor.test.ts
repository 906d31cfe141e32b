import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { monitorHealth, type MonitorOptions } from '../../../src/supervisor/monitor.js';
import { defaultDeps } from '../../../src/supervisor/deps.js';
import type { ProbeResult } from '../../../src/supervisor/probe.js';
import { fakeSpec } from './fixtures.js';

const ok: ProbeResult = { ok: true, status: 200, loading: false, refused: false, latencyMs: 1, error: null };
const loading: ProbeResult = { ok: false, status: 503, loading: true, refused: false, latencyMs: 1, error: 'HTTP 503 Loading model' };
const timeout: ProbeResult = { ok: false, status: null, loading: false, refused: false, latencyMs: 5, error: 'timed out after 5000 ms' };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(answer: (at: number) => ProbeResult, supervision = {}) {
  const start = Date.now();
  const probes: { at: number; timeoutMs: number }[] = [];
  const calls: string[] = [];
  const ctl = new AbortController();
  let lastOutputAt = 0;
  const options: MonitorOptions = {
    spec: fakeSpec('m', 1234, { supervision }),
    deps: {
      ...defaultDeps(),
      now: () => Date.now(),
      probe: async (req) => {
        probes.push({ at: Date.now() - start, timeoutMs: req.timeoutMs });
        return answer(Date.now() - start);
      },
    },
    signal: ctl.signal,
    lastOutputAt: () => lastOutputAt,
    onProbe: () => undefined,
    onReady: () => calls.push(`ready@${Date.now() - start}`),
    onUnhealthy: (reason) => calls.push(`unhealthy@${Date.now() - start}: ${reason}`),
    onStable: () => calls.push(`stable@${Date.now() - start}`),
  };
  return { probes, calls, ctl, options, output: () => (lastOutputAt = Date.now()) };
}

const health = (h: object) => ({ health: { path: '/health', startupIntervalMs: 1_000, startupTimeoutMs: 600_000, intervalMs: 10_000, timeoutMs: 5_000, failureThreshold: 3, ...h } });

describe('health monitor', () => {
  it('probes every 25 ms during the first second, then every startup interval, with a 2 s probe timeout', async () => {
    const t = setup((at) => (at >= 3_000 ? ok : loading), health({}));
    const verdict = monitorHealth(t.options);
    await vi.advanceTimersByTimeAsync(3_100);
    const times = t.probes.map((p) => p.at);
    expect(times.filter((x) => x < 1_000).length).toBeGreaterThanOrEqual(35);
    expect(times.filter((x) => x >= 1_000)).toEqual([1_000, 2_000, 3_000]);
    expect(new Set(t.probes.map((p) => p.timeoutMs))).toEqual(new Set([2_000]));
    expect(t.calls).toEqual(['ready@3000']);
    t.ctl.abort();
    await expect(verdict).resolves.toBeNull();
  });

  it('new output after the first second triggers a probe within 100 ms instead of waiting the full period', async () => {
    const t = setup((at) => (at >= 2_450 ? ok : loading), health({}));
    const listeners = new Set<() => void>();
    t.options.subscribeOutput = (fn) => (listeners.add(fn), () => listeners.delete(fn));
    void monitorHealth(t.options);
    await vi.advanceTimersByTimeAsync(2_450);
    for (const fn of listeners) fn(); // "main: model loaded"
    await vi.advanceTimersByTimeAsync(200);
    // Without the output it would be the next 1 s tick, at 3000.
    expect(t.calls).toHaveLength(1);
    expect(Number(t.calls[0]!.slice('ready@'.length))).toBeLessThanOrEqual(2_550);
    expect(listeners.size).toBe(0);
    t.ctl.abort();
  });

  it('gives up with startup-timeout when silent, but not while output keeps advancing', async () => {
    const t = setup(() => loading, health({ startupTimeoutMs: 5_000 }));
    const verdict = monitorHealth(t.options);
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      t.output(); // the loader prints progress for 10 s
    }
    expect(t.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(6_000);
    await expect(verdict).resolves.toMatchObject({ cls: 'startup-timeout' });
  });

  it('after ready, N consecutive liveness failures give a liveness-failed verdict; one success in between heals', async () => {
    let answers: ProbeResult[] = [ok, ok, timeout, ok, timeout, timeout, timeout];
    const t = setup(() => answers.shift() ?? ok, health({ intervalMs: 10_000, failureThreshold: 3 }));
    const verdict = monitorHealth(t.options);
    await vi.advanceTimersByTimeAsync(80_000);
    await expect(verdict).resolves.toMatchObject({ cls: 'liveness-failed', reason: expect.stringMatching(/3\/3: timed out/) });
    expect(t.calls.map((c) => c.split(':')[0])).toEqual(['ready@0', 'unhealthy@20000', 'ready@30000', 'unhealthy@40000']);
  });

  it('reports stability after resetAfterMs of continuous readiness', async () => {
    const t = setup(() => ok, { ...health({ intervalMs: 10_000 }), backoff: { resetAfterMs: 60_000 } });
    void monitorHealth(t.options);
    await vi.advanceTimersByTimeAsync(70_000);
    expect(t.calls).toEqual(['ready@0', 'stable@60000']);
    t.ctl.abort();
  });
});
