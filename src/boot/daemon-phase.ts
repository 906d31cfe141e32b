/**
 * The daemon's own life, as an explicit state machine beside the instances':
 * running → stopping (the first stop signal, the CMD's exit, a failed start-up)
 * → forced (a second stop signal: kill everything now). Nothing goes back.
 */
export const DAEMON_PHASES = ['running', 'stopping', 'forced'] as const;
export type DaemonPhaseName = (typeof DAEMON_PHASES)[number];

const NEXT: Readonly<Record<DaemonPhaseName, DaemonPhaseName | null>> = { running: 'stopping', stopping: 'forced', forced: null };

export class DaemonPhase {
  #phase: DaemonPhaseName = 'running';

  get current(): DaemonPhaseName {
    return this.#phase;
  }

  get stopRequested(): boolean {
    return this.#phase !== 'running';
  }

  /** Move to the next phase; false when there is none (already forced). */
  advance(): boolean {
    const next = NEXT[this.#phase];
    if (next === null) return false;
    this.#phase = next;
    return true;
  }

  /** Enter `stopping` unless a stop is already under way; true when this call began it. */
  beginStop(): boolean {
    return this.#phase === 'running' && this.advance();
  }
}
