/**
 * The instance state machine: the one table of legal transitions and the one
 * place that writes an instance's state. Every accepted transition becomes a
 * TransitionEvent for the log and the listeners; an illegal one is a bug in
 * the supervisor and throws.
 */
import type { FailureClass, InstanceState, TransitionEvent } from './types.js';

export const TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  // stopped → failed is not here: a start that cannot even spawn fails from 'starting'.
  stopped: ['starting'],
  starting: ['ready', 'stopping', 'backoff', 'failed', 'stopped'],
  ready: ['unhealthy', 'stopping', 'backoff', 'failed', 'stopped'],
  unhealthy: ['ready', 'stopping', 'backoff', 'failed', 'stopped'],
  // stopping ends in backoff/failed when the supervisor killed the process to restart it.
  stopping: ['stopped', 'backoff', 'failed'],
  backoff: ['starting', 'stopped'],
  failed: ['starting', 'stopped'],
};

export class IllegalTransitionError extends Error {
  constructor(instance: string, from: InstanceState, to: InstanceState, reason: string) {
    super(`bug: instance "${instance}" cannot go from ${from} to ${to} (${reason})`);
    this.name = 'IllegalTransitionError';
  }
}

export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return TRANSITIONS[from].includes(to);
}

export interface TransitionDetails {
  reason: string;
  pid?: number | null;
  exitCode?: number | null;
  signal?: string | null;
  failureClass?: FailureClass | null;
  /** The exited process's last output lines, when its output is not in the daemon log. */
  lastLines?: string[];
}

export class InstanceStateMachine {
  #state: InstanceState = 'stopped';
  #reason: string | null = null;
  #failureClass: FailureClass | null = null;

  constructor(
    readonly instance: string,
    private readonly emit: (event: TransitionEvent) => void,
    private readonly now: () => number,
    private readonly restarts: () => number,
  ) {}

  get state(): InstanceState {
    return this.#state;
  }
  get reason(): string | null {
    return this.#reason;
  }
  get failureClass(): FailureClass | null {
    return this.#failureClass;
  }

  /** The single writer of the state. */
  transition(to: InstanceState, details: TransitionDetails): TransitionEvent {
    const from = this.#state;
    if (!canTransition(from, to)) throw new IllegalTransitionError(this.instance, from, to, details.reason);
    this.#state = to;
    this.#reason = details.reason;
    // The class describes the latest failure; a successful start clears it.
    if (details.failureClass !== undefined) this.#failureClass = details.failureClass;
    else if (to === 'ready') this.#failureClass = null;
    const event: TransitionEvent = {
      instance: this.instance,
      from,
      to,
      reason: details.reason,
      pid: details.pid ?? null,
      exitCode: details.exitCode ?? null,
      signal: details.signal ?? null,
      restarts: this.restarts(),
      failureClass: details.failureClass ?? null,
      at: this.now(),
      ...(details.lastLines !== undefined ? { lastLines: details.lastLines } : {}),
    };
    this.emit(event);
    return event;
  }
}
