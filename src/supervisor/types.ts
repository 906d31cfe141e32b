/**
 * The supervisor's public surface, shared by the control plane (socket
 * server, CLI) and boot. The state machine itself lives in instance-state.ts.
 */
import type { InstanceSpec, LoadedConfig } from '../config/types.js';

export const INSTANCE_STATES = ['stopped', 'starting', 'ready', 'unhealthy', 'stopping', 'backoff', 'failed'] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

/** Why a start failed or a process exited, from its status and last output lines. */
export const FAILURE_CLASSES = [
  'port-in-use',
  'bad-argument',
  'model-load-failed',
  'out-of-memory',
  'missing-library',
  'killed',
  'startup-timeout',
  'liveness-failed',
  'crashed',
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  at: number;
  class: FailureClass | null;
  /** Last output lines (secrets redacted). */
  lastLines: string[];
}

export interface ProbeInfo {
  at: number;
  ok: boolean;
  status: number | null;
  latencyMs: number;
  error: string | null;
}

export interface InstanceStatus {
  name: string;
  state: InstanceState;
  enabled: boolean;
  pid: number | null;
  host: string;
  port: number;
  /** ms since the current process became ready; null when not ready. */
  uptimeMs: number | null;
  restarts: number;
  reason: string | null;
  failureClass: FailureClass | null;
  lastExit: ExitInfo | null;
  lastProbe: ProbeInfo | null;
  /** argv with secrets redacted. */
  argv: string[];
}

export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/** One state change of one instance; the supervisor logs each as one structured event. */
export interface TransitionEvent {
  instance: string;
  from: InstanceState;
  to: InstanceState;
  reason: string;
  pid: number | null;
  exitCode: number | null;
  signal: string | null;
  restarts: number;
  failureClass: FailureClass | null;
  at: number;
  /** Last output lines (redacted) of the process that exited, only for an instance whose output is not in the daemon log (`daemon_log = false`). */
  lastLines?: string[];
}

export interface SupervisorApi {
  /** Subscribe to state changes (metrics, check-and-run waiting); returns an unsubscribe function. */
  onTransition(listener: (event: TransitionEvent) => void): () => void;
  /** Subscribe to probe results (latency histogram); returns an unsubscribe function. */
  onProbe(listener: (instance: string, probe: ProbeInfo) => void): () => void;
  list(): InstanceStatus[];
  get(name: string): InstanceStatus | undefined;
  start(name: string): Promise<InstanceStatus>;
  stop(name: string): Promise<InstanceStatus>;
  restart(name: string): Promise<InstanceStatus>;
  /** Last n log lines of an instance (redacted). */
  logs(name: string, n: number): string[];
  /** Subscribe to new log lines; returns an unsubscribe function. */
  followLogs(name: string, onLine: (line: string) => void): () => void;
  /** Apply a config as a diff; reloads are queued here and applied one at a time. */
  reload(config: LoadedConfig): Promise<ReloadResult>;
  /** Waits until every named instance is ready/failed or the signal aborts. */
  waitSettled(names: string[], signal?: AbortSignal): Promise<InstanceStatus[]>;
  stopAll(options?: { immediate?: boolean }): Promise<void>;
}

export type { InstanceSpec, LoadedConfig };
