/** Shared helpers for the supervisor tests: specs for the fake llama-server, free ports, bounded waits. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { InstanceSpec, SupervisionSettings } from '../../../src/config/types.js';
import type { InstanceState, SupervisorApi, TransitionEvent } from '../../../src/supervisor/types.js';

export const FAKE_SERVER = fileURLToPath(new URL('../../fixtures/fake-llama-server.mjs', import.meta.url));

/** Fast settings so real-process tests take seconds: probes every 100–200 ms, short backoff and grace. */
export function fastSupervision(overrides: DeepPartial<SupervisionSettings> = {}): SupervisionSettings {
  const base: SupervisionSettings = {
    restart: 'always',
    backoff: { initialMs: 50, maxMs: 400, multiplier: 2, jitter: 0.2, resetAfterMs: 60_000 },
    crashLoop: { maxUnreadyStarts: 5, maxRestarts: 10, windowMs: 600_000 },
    health: { path: '/health', startupIntervalMs: 100, startupTimeoutMs: 10_000, intervalMs: 150, timeoutMs: 300, failureThreshold: 2 },
    stopGraceMs: 1_000,
  };
  return {
    ...base,
    ...overrides,
    backoff: { ...base.backoff, ...overrides.backoff },
    crashLoop: { ...base.crashLoop, ...overrides.crashLoop },
    health: { ...base.health, ...overrides.health },
  } as SupervisionSettings;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface FakeSpecOptions {
  env?: Record<string, string>;
  args?: string[];
  supervision?: DeepPartial<SupervisionSettings>;
  model?: string;
  logFile?: string;
  /** `daemon_log`; default true. */
  daemonLog?: boolean;
  secrets?: string[];
  enabled?: boolean;
  envRemove?: string[];
}

export function fakeSpec(name: string, port: number, options: FakeSpecOptions = {}): InstanceSpec {
  const args = [FAKE_SERVER, '--host', '127.0.0.1', '--port', String(port), ...(options.model ? ['-m', options.model] : []), ...(options.args ?? [])];
  const spec: Omit<InstanceSpec, 'fingerprint'> = {
    name,
    enabled: options.enabled ?? true,
    executable: process.execPath,
    args,
    env: options.env ?? {},
    envRemove: options.envRemove ?? [],
    host: '127.0.0.1',
    probeHost: '127.0.0.1',
    port,
    model: options.model,
    secrets: options.secrets ?? [],
    logFile: options.logFile,
    daemonLog: options.daemonLog ?? true,
    supervision: fastSupervision(options.supervision),
  };
  const fingerprint = createHash('sha256').update(JSON.stringify([spec.executable, spec.args, spec.env, spec.envRemove, spec.daemonLog, spec.supervision])).digest('hex');
  return { ...spec, fingerprint };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Records every transition; waitFor resolves at the first (past or future) event matching, or rejects after timeoutMs. */
export function recordTransitions(supervisor: SupervisorApi) {
  const events: TransitionEvent[] = [];
  const waiters = new Set<() => void>();
  supervisor.onTransition((event) => {
    events.push(event);
    for (const waiter of [...waiters]) waiter();
  });
  const waitFor = (predicate: (event: TransitionEvent, all: TransitionEvent[]) => boolean, timeoutMs = 10_000, what = 'transition') =>
    new Promise<TransitionEvent>((resolve, reject) => {
      const check = () => {
        const hit = events.find((event) => predicate(event, events));
        if (!hit) return;
        cleanup();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; saw: ${events.map((e) => `${e.instance}:${e.from}→${e.to}(${e.reason})`).join(', ')}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const waitState = (instance: string, to: InstanceState, nth = 1, timeoutMs = 10_000) => {
    return waitFor(
      (event, all) => event.instance === instance && event.to === to && all.filter((e) => e.instance === instance && e.to === to).indexOf(event) === nth - 1,
      timeoutMs,
      `${instance} → ${to} (#${nth})`,
    );
  };
  return { events, waitFor, waitState };
}

/** True while a process (or, with a negative pid, a process group) exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True while a process exists and is not a zombie. */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
