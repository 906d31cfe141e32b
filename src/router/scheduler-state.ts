/**
 * What the scheduler knows: its options and injected dependencies, each model's runtime and each
 * waiting request. Only the Scheduler writes these; the helpers beside it read them or act on the
 * one runtime they are handed, always inside a scheduler event.
 */
import type { InstanceState } from '../supervisor/types.js';
import { ClientQueue } from './client-queue.js';
import type { Clock } from './clock.js';
import { Estimates } from './estimates.js';
import type { PlacementModel } from './placement.js';
import { clientClosed } from './scheduler-errors.js';
import type { RouterError } from './types.js';

export interface SchedulerModel extends PlacementModel {
  /** 0 = never unload. */
  ttlMs: number;
  maxConcurrency: number;
  maxQueue: number;
}

export interface SchedulerOptions {
  maxQueue: number;
  queueTimeoutMs: number;
  swapMaxWaitMs: number;
  groups: Record<string, { maxRunning: number }>;
  gpuBudgetMb: Record<string, number>;
}

export type EvictionReason = 'swap' | 'ttl' | 'unload';

export interface SchedulerObserver {
  waited?(model: string, ms: number): void;
  loaded?(model: string, ms: number): void;
  evicted?(model: string, reason: EvictionReason): void;
  rejected?(model: string, code: string): void;
  error?(model: string, step: string, error: unknown): void;
}

export interface SchedulerDeps {
  clock: Clock;
  state(name: string): InstanceState | undefined;
  /** Ask the supervisor; the outcome arrives through `transition`. */
  start(name: string): Promise<unknown>;
  stop(name: string): Promise<unknown>;
  /** Resolves once the GPU has room for `name` (VRAM really freed by the previous model). */
  beforeStart?(name: string, signal: AbortSignal): Promise<void>;
  /** A 1-token request before the first routed one; its failure is logged, not fatal. */
  warm?(name: string, signal: AbortSignal): Promise<void>;
  /** A reload: the previous configuration's scheduler already warmed this ready process. */
  alreadyWarm?(name: string): boolean;
  /** The supervisor's failure class of a failed instance, for the 503 answer. */
  failureClass?(name: string): string | undefined | null;
  observer?: SchedulerObserver;
}

export interface SubmitOptions {
  model: string;
  client: string;
  signal?: AbortSignal;
  /** Unload this long after the request ends (0 = at once; negative or Infinity = never). */
  keepAliveMs?: number;
}

export interface Grant {
  model: string;
  waitedMs: number;
  /** Idempotent: the request no longer holds a slot. */
  release(): void;
}

export interface Ticket {
  model: string;
  client: string;
  arrivedAt: number;
  keepAliveMs: number | undefined;
  settled: boolean;
  resolve(grant: Grant): void;
  reject(error: RouterError): void;
  /** The client's; a ticket handed to another scheduler re-arms its listener there. */
  signal: AbortSignal | undefined;
  timer: unknown;
  cleanup(): void;
}

export interface Runtime {
  spec: SchedulerModel;
  sup: InstanceState;
  queue: ClientQueue<Ticket>;
  inFlight: number;
  warm: boolean;
  warming: AbortController | null;
  /** Start asked (VRAM wait or supervisor) and not yet answered by ready/stopped/failed. */
  starting: AbortController | null;
  loadStartedAt: number | null;
  /** Takes no new requests; stopped once in-flight ones end. */
  draining: EvictionReason | null;
  stopping: boolean;
  /** Victims are draining to make room for this model. */
  claim: boolean;
  lastUsed: number;
  ttlTimer: unknown;
  expiresAt: number | null;
  /** From the last request's keepAliveMs; null = never, undefined = the configured ttl. */
  ttlOverride: number | null | undefined;
  swapTimer: unknown;
  estimates: Estimates;
  waiters: Set<() => void>;
  /** After a reconfiguration: the next scheduler's runtime of this model, which counts our in-flight requests. */
  heir: { runtime: Runtime; pump(): void } | null;
}

export function newRuntime(spec: SchedulerModel, sup: InstanceState): Runtime {
  return {
    spec,
    sup,
    queue: new ClientQueue<Ticket>(),
    inFlight: 0,
    warm: false,
    warming: null,
    starting: null,
    loadStartedAt: null,
    draining: null,
    stopping: false,
    claim: false,
    lastUsed: 0,
    ttlTimer: undefined,
    expiresAt: null,
    ttlOverride: undefined,
    swapTimer: undefined,
    estimates: new Estimates(),
    waiters: new Set(),
    heir: null,
  };
}

/** Ready, warm and not leaving: requests may be forwarded to it. */
export function servable(m: Runtime): boolean {
  return m.sup === 'ready' && m.warm && m.draining === null;
}

/** Servable with nothing queued or in flight: what the TTL counts and victims prefer. */
export function idle(m: Runtime): boolean {
  return servable(m) && m.inFlight === 0 && m.queue.size === 0;
}

/** Resolves once `done()` holds, checked after every pump; rejects 499 if the caller leaves first. */
export function waitFor(m: Runtime, done: () => boolean, signal?: AbortSignal): Promise<void> {
  if (done()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!done()) return;
      m.waiters.delete(check);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = () => {
      m.waiters.delete(check);
      reject(clientClosed());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    m.waiters.add(check);
  });
}

/** What a supervisor state change means for one model's runtime. */
export function noteTransition(m: Runtime, to: InstanceState, now: number): void {
  m.sup = to;
  if (to !== 'ready') {
    m.warm = false;
    m.warming?.abort();
    m.warming = null;
  }
  if (to === 'starting' && m.loadStartedAt === null) m.loadStartedAt = now;
  if (to === 'stopped' || to === 'failed') {
    m.starting?.abort();
    m.starting = null;
    m.stopping = false;
    m.draining = null;
    m.ttlOverride = undefined;
    m.loadStartedAt = null;
  }
  if (to === 'ready') m.starting = null;
}

/** No timer, warm-up or start of this model left running (closing, or handed over). */
export function quiesce(m: Runtime, clock: Clock): void {
  clock.clearTimeout(m.ttlTimer);
  clock.clearTimeout(m.swapTimer);
  m.expiresAt = null;
  m.warming?.abort();
  m.warming = null;
  m.starting?.abort();
  m.starting = null;
}

/** `heir` (the next scheduler's runtime of the model) counts `m`'s in-flight requests until they end. */
export function inherit(heir: Runtime, m: Runtime, pump: () => void): void {
  heir.inFlight += m.inFlight;
  heir.lastUsed = Math.max(heir.lastUsed, m.lastUsed);
  heir.estimates = m.estimates;
  m.heir = { runtime: heir, pump };
}
