/** The scheduler's answers to requests it cannot serve, with an honest Retry-After. */
import type { Runtime } from './scheduler-state.js';
import { RouterError } from './types.js';

export function clientClosed(): RouterError {
  return new RouterError(499, 'client_closed', 'The client closed the request.');
}

/** Seconds until a request joining `m`'s queue now is likely served, from learned load and service times. */
export function retryAfter(m: Runtime): number {
  return m.estimates.retryAfterSeconds(m.queue.size, m.spec.maxConcurrency, m.sup !== 'ready');
}

export function queueFull(m: Runtime, routerWide: boolean): RouterError {
  const which = routerWide ? 'router' : `model '${m.spec.name}'`;
  return new RouterError(503, 'queue_full', `The ${which} queue is full; retry later.`, retryAfter(m));
}

export function queueTimeout(m: Runtime): RouterError {
  return new RouterError(503, 'queue_timeout', `The request waited the whole queue_timeout for '${m.spec.name}'; retry later.`, retryAfter(m));
}

export function failed(m: Runtime, failureClass: string | undefined): RouterError {
  const why = failureClass ? ` (${failureClass})` : '';
  return new RouterError(503, 'instance_failed', `The model '${m.spec.name}' failed${why}; fix it, then run 'infer-entry start ${m.spec.name}'.`, undefined, failureClass);
}

export function startFailed(m: Runtime, error: unknown): RouterError {
  return new RouterError(503, 'instance_failed', `The model '${m.spec.name}' could not be started: ${error instanceof Error ? error.message : String(error)}`);
}

export function stopping(): RouterError {
  return new RouterError(503, 'router_stopping', 'The router is shutting down.', 5);
}

export function notFound(name: string): RouterError {
  return new RouterError(404, 'model_not_found', `The model '${name}' does not exist.`);
}
