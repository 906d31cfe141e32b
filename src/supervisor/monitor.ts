/**
 * Health probing of one running process: the startup probe (fast for the first
 * second so readiness is seen within ~100 ms, then every startupIntervalMs),
 * then liveness. Resolves with a verdict when the process should be killed,
 * or null when the signal aborts it (exit or stop).
 */
import type { InstanceSpec } from '../config/types.js';
import type { SupervisorDeps } from './deps.js';
import type { FailureClass, ProbeInfo } from './types.js';

/** Startup probe period during the first FAST_WINDOW_MS after spawn. */
export const FAST_PROBE_MS = 25;
export const FAST_WINDOW_MS = 1_000;
/** Startup probes never wait longer than this for one answer. */
export const STARTUP_PROBE_TIMEOUT_MS = 2_000;
/**
 * While starting, new output triggers a probe (at most this often): llama-server prints
 * "main: model loaded" right after it switches to ready, so readiness is seen within ~100 ms
 * even after the fast first second, without probing fast for the whole (minutes-long) load.
 */
export const OUTPUT_PROBE_GAP_MS = 100;

export interface MonitorVerdict {
  cls: FailureClass;
  reason: string;
}

export interface MonitorOptions {
  spec: InstanceSpec;
  deps: SupervisorDeps;
  signal: AbortSignal;
  /** When the process last printed anything: a loader that keeps printing is still starting. */
  lastOutputAt(): number;
  /** Calls back when new output arrives; returns an unsubscribe function. */
  subscribeOutput?(onOutput: () => void): () => void;
  onProbe(probe: ProbeInfo): void;
  onReady(): void;
  onUnhealthy(reason: string): void;
  /** Continuous readiness for resetAfterMs. */
  onStable(): void;
}

export async function monitorHealth(options: MonitorOptions): Promise<MonitorVerdict | null> {
  try {
    return await run(options);
  } catch (error) {
    if (options.signal.aborted) return null;
    throw error;
  }
}

async function run(options: MonitorOptions): Promise<MonitorVerdict | null> {
  const { spec, deps, signal } = options;
  const health = spec.supervision.health;
  const probe = async (timeoutMs: number) => {
    const result = await deps.probe({ host: spec.probeHost, port: spec.port, path: health.path, timeoutMs, signal });
    if (signal.aborted) throw signal.reason;
    const info: ProbeInfo = { at: deps.now(), ok: result.ok, status: result.status, latencyMs: result.latencyMs, error: result.error };
    options.onProbe(info);
    return result;
  };

  // Startup: 503 "Loading model" and connection refused both mean "still starting" (with -hf the
  // download happens before the bind). Only silence for the whole timeout gives up.
  const spawnedAt = deps.now();
  const startupTimeout = Math.min(health.timeoutMs, STARTUP_PROBE_TIMEOUT_MS);
  for (;;) {
    const probedAt = deps.now();
    const result = await probe(startupTimeout);
    if (result.ok) break;
    const now = deps.now();
    const deadline = Math.max(spawnedAt, options.lastOutputAt()) + health.startupTimeoutMs;
    if (now >= deadline) {
      return {
        cls: 'startup-timeout',
        reason: `not ready after ${Math.round((now - spawnedAt) / 1000)} s and silent for ${Math.round(health.startupTimeoutMs / 1000)} s (last probe: ${result.error ?? 'failed'})`,
      };
    }
    const period = now - spawnedAt < FAST_WINDOW_MS ? FAST_PROBE_MS : health.startupIntervalMs;
    await pauseUntilNextProbe(options, Math.max(1, Math.min(period, deadline - now)), probedAt + OUTPUT_PROBE_GAP_MS);
    if (signal.aborted) throw signal.reason;
  }
  options.onReady();

  let stableSince = deps.now();
  let stableNoted = false;
  let failures = 0;
  for (;;) {
    await deps.sleep(health.intervalMs, signal);
    const result = await probe(health.timeoutMs);
    if (result.ok) {
      if (failures > 0) {
        failures = 0;
        stableSince = deps.now();
        options.onReady();
      }
      if (!stableNoted && deps.now() - stableSince >= spec.supervision.backoff.resetAfterMs) {
        stableNoted = true;
        options.onStable();
      }
      continue;
    }
    failures += 1;
    const what = `liveness probe failed ${failures}/${health.failureThreshold}: ${result.error ?? 'failed'}`;
    if (failures >= health.failureThreshold) return { cls: 'liveness-failed', reason: what };
    if (failures === 1) options.onUnhealthy(what);
  }
}

/** Sleep for periodMs, or less when output arrives (then not before earliest). Never rejects. */
async function pauseUntilNextProbe(options: MonitorOptions, periodMs: number, earliest: number): Promise<void> {
  const { deps, signal } = options;
  const ctl = new AbortController();
  const stop = () => ctl.abort();
  signal.addEventListener('abort', stop, { once: true });
  let unsubscribe = () => undefined as unknown;
  try {
    const quiet = deps.sleep(periodMs, ctl.signal).catch(() => undefined);
    const kicked = new Promise<void>((resolve) => {
      unsubscribe = options.subscribeOutput?.(() => resolve()) ?? (() => undefined);
    }).then(() => deps.sleep(Math.max(1, earliest - deps.now()), ctl.signal).catch(() => undefined));
    await Promise.race([quiet, kicked]);
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', stop);
    ctl.abort();
  }
}
