/**
 * A waiting request's life: its deadline and abort listener, answered exactly once, and the grant
 * that holds a slot until released. Called only by the Scheduler, inside its events.
 */
import type { Clock } from './clock.js';
import type { Grant, Runtime, SchedulerObserver, SubmitOptions, Ticket } from './scheduler-state.js';
import type { RouterError } from './types.js';

const noop = (): void => undefined;

export function newTicket(model: string, options: SubmitOptions, now: number, resolve: (grant: Grant) => void, reject: (error: RouterError) => void): Ticket {
  return { model, client: options.client, arrivedAt: now, keepAliveMs: options.keepAliveMs, settled: false, resolve, reject, signal: options.signal, timer: undefined, cleanup: noop };
}

/** Only a waiting ticket needs these: the queue_timeout deadline and leaving when the client does. */
export function armTicket(ticket: Ticket, clock: Clock, timeoutMs: number, expire: () => void, signal: AbortSignal | undefined, cancel: () => void): void {
  ticket.timer = clock.setTimeout(expire, timeoutMs);
  if (!signal) return;
  signal.addEventListener('abort', cancel, { once: true });
  ticket.cleanup = () => signal.removeEventListener('abort', cancel);
}

/** Answers a ticket once; later calls do nothing. */
export function settle(ticket: Ticket, clock: Clock, action: () => void): void {
  if (ticket.settled) return;
  ticket.settled = true;
  clock.clearTimeout(ticket.timer);
  ticket.cleanup();
  action();
}

/** Takes a slot of `m` for the ticket; `released` runs once when the request ends. */
export function grantTicket(m: Runtime, ticket: Ticket, clock: Clock, observer: SchedulerObserver | undefined, released: () => void): void {
  const now = clock.now();
  m.inFlight++;
  m.lastUsed = now;
  let done = false;
  const waitedMs = now - ticket.arrivedAt;
  observer?.waited?.(m.spec.name, waitedMs);
  settle(ticket, clock, () =>
    ticket.resolve({
      model: m.spec.name,
      waitedMs,
      release: () => {
        if (done) return;
        done = true;
        m.inFlight--;
        const end = clock.now();
        m.lastUsed = end;
        m.estimates.noteService(end - now);
        if (ticket.keepAliveMs !== undefined) m.ttlOverride = ticket.keepAliveMs < 0 || !Number.isFinite(ticket.keepAliveMs) ? null : ticket.keepAliveMs;
        // Granted before reconfigurations: every scheduler that took over since counts it too.
        for (let heir = m.heir; heir; heir = heir.runtime.heir) {
          heir.runtime.inFlight--;
          heir.runtime.lastUsed = Math.max(heir.runtime.lastUsed, end);
          if (ticket.keepAliveMs !== undefined) heir.runtime.ttlOverride = m.ttlOverride;
          heir.pump();
        }
        released();
      },
    }),
  );
}

/** The same grant; `finished` runs once, at its first release. */
function onRelease(grant: Grant, finished: () => void): Grant {
  let released = false;
  return {
    ...grant,
    release: () => {
      grant.release();
      if (released) return;
      released = true;
      finished();
    },
  };
}

/** `finished` runs once the ticket is rejected, or granted and then released (handed-over requests). */
export function untilFinished(ticket: Ticket, finished: () => void): Ticket {
  const { resolve, reject } = ticket;
  ticket.resolve = (grant) => resolve(onRelease(grant, finished));
  ticket.reject = (error) => {
    reject(error);
    finished();
  };
  return ticket;
}

/** As untilFinished, for a request submitted to the heir directly (a retry after a reload). */
export function grantUntilFinished(pending: Promise<Grant>, finished: () => void): Promise<Grant> {
  return pending.then(
    (grant) => onRelease(grant, finished),
    (error: unknown) => {
      finished();
      throw error;
    },
  );
}
