/**
 * The supervisor's events: every state change is logged as one structured
 * line and handed to the listeners (metrics, check-and-run waiting); probe
 * results go to theirs (the latency histogram). A throwing listener is
 * logged, never allowed to break supervision.
 */
import type { Logger } from 'pino';
import type { ProbeInfo, TransitionEvent } from './types.js';

export interface SupervisorEvents {
  onTransition(listener: (event: TransitionEvent) => void): () => void;
  onProbe(listener: (instance: string, probe: ProbeInfo) => void): () => void;
  emitTransition(event: TransitionEvent): void;
  emitProbe(instance: string, probe: ProbeInfo): void;
}

function levelOf(event: TransitionEvent): 'error' | 'warn' | 'info' {
  if (event.to === 'failed') return 'error';
  return event.to === 'unhealthy' || event.to === 'backoff' ? 'warn' : 'info';
}

export function createSupervisorEvents(log: Logger): SupervisorEvents {
  const transitionListeners = new Set<(event: TransitionEvent) => void>();
  const probeListeners = new Set<(instance: string, probe: ProbeInfo) => void>();
  const safely = (what: string, call: () => void) => {
    try {
      call();
    } catch (error) {
      log.error({ step: 'supervise', err: error }, `a ${what} listener threw`);
    }
  };
  return {
    onTransition(listener) {
      transitionListeners.add(listener);
      return () => transitionListeners.delete(listener);
    },
    onProbe(listener) {
      probeListeners.add(listener);
      return () => probeListeners.delete(listener);
    },
    emitTransition(event) {
      log[levelOf(event)](
        {
          step: 'supervise',
          instance: event.instance,
          from: event.from,
          to: event.to,
          reason: event.reason,
          pid: event.pid,
          exit_code: event.exitCode,
          signal: event.signal,
          restarts: event.restarts,
          class: event.failureClass,
          ...(event.lastLines !== undefined ? { last_lines: event.lastLines } : {}),
        },
        `${event.instance}: ${event.from} → ${event.to} (${event.reason})`,
      );
      for (const listener of transitionListeners) safely('transition', () => listener(event));
    },
    emitProbe(instance, probe) {
      for (const listener of probeListeners) safely('probe', () => listener(instance, probe));
    },
  };
}
