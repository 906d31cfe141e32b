/** A byte progress line on a terminal (stderr only, redrawn at most 5 times a second); nothing otherwise. */
import { formatBytes } from './limits.js';

export type ProgressFn = (phase: string, done: number, total: number) => void;

export interface TtyProgress extends ProgressFn {
  /** Ends a line left open by a phase that stopped before 100% (a failure), so the error starts on its own line. */
  finish(): void;
}

export function ttyProgress(stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): TtyProgress | undefined {
  if (!stream.isTTY) return undefined;
  let last = 0;
  let lastPhase = '';
  let open = false;
  const completed = new Set<string>();
  const draw = ((phase: string, done: number, total: number) => {
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
    open = !finished;
  }) as TtyProgress;
  draw.finish = () => {
    if (open) stream.write('\n');
    open = false;
  };
  return draw;
}
