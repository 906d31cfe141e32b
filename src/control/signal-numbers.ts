/** Signal name → number (SIGTERM → 15), for `128 + N` exit statuses. */
import { constants } from 'node:os';

export const signalNumbers: Record<string, number | undefined> = constants.signals as Record<string, number | undefined>;

/** The shell's convention for "killed by signal": 128 + its number. */
export function exitStatusForSignal(signal: string | null | undefined): number {
  const n = signal ? signalNumbers[signal] : undefined;
  return n === undefined ? 128 : 128 + n;
}
