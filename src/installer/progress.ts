/** A byte progress line on a terminal (stderr only, redrawn at most 5 times a second); nothing otherwise. */
import { formatBytes } from './limits.js';

export type ProgressFn = (phase: string, done: number, total: number) => void;

export function ttyProgress(stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): ProgressFn | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  let lastPhase = '';
  const completed = new Set<string>();
  return (phase, done, total) => {
    const t = now();
    const finished = done >= total;
    // read-ahead reaches 100% before the work does: draw the final line once
    if (completed.has(phase)) return;
    if (finished) completed.add(phase);
    if (!finished && phase === lastPhase && t - last < 200) return;
    last = t;
    lastPhase = phase;
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
    stream.write(`\r\x1b[K${phase}: ${formatBytes(done)} / ${formatBytes(total)} (${pct}%)${finished ? '\n' : ''}`);
  };
}
