/**
 * Restart decisions: exponential backoff with jitter, crash-loop limits, and
 * the "do not loop on what a restart cannot fix" rule. Pure bookkeeping (the
 * clock and randomness are passed in) so it is tested without processes.
 */
import type { SupervisionSettings } from '../config/types.js';
import { NON_FIXABLE } from './classify.js';
import type { FailureClass } from './types.js';

/** An out-of-memory exit waits this many times longer: GPU memory often frees only slowly. */
export const OOM_BACKOFF_FACTOR = 4;
/** Non-fixable classes get this many tries in a row before the instance is failed. */
export const NON_FIXABLE_TRIES = 2;

export type RestartDecision = { restart: true; delayMs: number; reason: string } | { restart: false; reason: string };

export class RestartTracker {
  /** Consecutive failed attempts since the last reset; drives the backoff exponent. */
  #attempt = 0;
  #unreadyStarts = 0;
  #restartTimes: number[] = [];
  #sameClass: { cls: FailureClass | null; count: number } = { cls: null, count: 0 };

  constructor(
    private settings: SupervisionSettings,
    private readonly random: () => number = Math.random,
  ) {}

  update(settings: SupervisionSettings): void {
    this.settings = settings;
  }

  /** A start attempt ended before the process became ready. */
  noteUnreadyExit(): void {
    this.#unreadyStarts += 1;
  }

  /** The process became ready: the unready streak is over (the backoff resets only after a stable period). */
  noteReady(): void {
    this.#unreadyStarts = 0;
    this.#sameClass = { cls: null, count: 0 };
  }

  /** Continuous readiness for resetAfterMs. */
  noteStable(): void {
    this.#attempt = 0;
  }

  /** `start NAME` by a person: a fresh chance. */
  reset(): void {
    this.#attempt = 0;
    this.#unreadyStarts = 0;
    this.#restartTimes = [];
    this.#sameClass = { cls: null, count: 0 };
  }

  decide(now: number, cls: FailureClass | null): RestartDecision {
    const { crashLoop, backoff } = this.settings;
    if (cls !== null && cls === this.#sameClass.cls) this.#sameClass.count += 1;
    else this.#sameClass = { cls, count: 1 };
    if (cls !== null && NON_FIXABLE.has(cls) && this.#sameClass.count >= NON_FIXABLE_TRIES) {
      return { restart: false, reason: `${cls} ${this.#sameClass.count} times in a row; a restart cannot fix it` };
    }
    if (this.#unreadyStarts >= crashLoop.maxUnreadyStarts) {
      return { restart: false, reason: `crash loop: ${this.#unreadyStarts} starts in a row never became ready` };
    }
    this.#restartTimes = this.#restartTimes.filter((t) => now - t < crashLoop.windowMs);
    if (this.#restartTimes.length >= crashLoop.maxRestarts) {
      return {
        restart: false,
        reason: `crash loop: ${this.#restartTimes.length} restarts within ${Math.round(crashLoop.windowMs / 1000)} s`,
      };
    }
    this.#restartTimes.push(now);
    const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.multiplier ** this.#attempt);
    this.#attempt += 1;
    const jittered = base * (1 + backoff.jitter * (2 * this.random() - 1));
    const factor = cls === 'out-of-memory' ? OOM_BACKOFF_FACTOR : 1;
    const delayMs = Math.max(0, Math.round(Math.min(backoff.maxMs * (1 + backoff.jitter), jittered * factor)));
    return { restart: true, delayMs, reason: `restart in ${delayMs} ms` };
  }
}
