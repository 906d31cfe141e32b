/**
 * Shell-style exit statuses: a process killed by signal N ends with 128 + N.
 * The one place that adds 128, for the CMD child, the daemon's own exit and
 * the metrics of an instance's last exit.
 */
import { constants } from 'node:os';

const signalNumbers = constants.signals as Record<string, number | undefined>;

/** The shell's convention for "killed by signal": 128 + its number (128 for an unknown name). */
export function exitStatusForSignal(signal: string | null | undefined): number {
  const n = signal ? signalNumbers[signal] : undefined;
  return n === undefined ? 128 : 128 + n;
}
