/**
 * The end of a child process: noticing its exit (with its output fully read) and
 * bringing its whole process group down on a stop.
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { SupervisorDeps } from './deps.js';
import type { InstanceOutput } from './instance-output.js';
import { signalGroup, waitGroupGone } from './process-group.js';

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Taken before any test installs fake timers: a poll of the pipes, not a clock. */
const realSetImmediate = globalThis.setImmediate;

/** How long to wait for the pipes to drain after the process exited (a grandchild may hold them open). */
const DRAIN_MS = 500;
/** Bound on the drain wait of a child that keeps its pipes busy after exiting: 60 × 500 ms. */
const MAX_DRAIN_ROUNDS = 60;
/** After SIGKILL, how long to wait for the exit event before giving up on it. */
const KILL_EXIT_WAIT_MS = 5_000;

/** Resolves with the exit status once the process exited and its output is read (bounded wait) and processed. */
export function watchExit(child: ChildProcess, output: InstanceOutput, executable: string, sleep: SupervisorDeps['sleep']): Promise<Exited> {
  const streams = [child.stdout ? output.attach(child.stdout, 'stdout') : null, child.stderr ? output.attach(child.stderr, 'stderr') : null];
  const done = streams.map((s) => s?.done);
  return new Promise<Exited>((resolve) => {
    let settled = false;
    const finish = async (exit: Exited) => {
      if (settled) return;
      settled = true;
      // Read to the end of the pipes. A grandchild may hold them open forever: stop once nothing
      // arrived for DRAIN_MS (and no pipe is paused for a slow sink), or after MAX_DRAIN_ROUNDS.
      const allEnded = Promise.all(done).then(() => true);
      const progress = () => output.received + output.resumed;
      for (let round = 0; round < MAX_DRAIN_ROUNDS; round++) {
        const before = progress();
        const timer = new AbortController();
        const ended = await Promise.race([allEnded, sleep(DRAIN_MS, timer.signal).then(() => false, () => false)]);
        timer.abort();
        if (ended) break;
        // A starved process runs its timers before it polls the pipes: let one poll happen first.
        await new Promise((resolve) => realSetImmediate(resolve));
        if (progress() === before && output.paused === 0) break;
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
      // Destroyed streams close: their last unended lines go out.
      await Promise.all(done);
      resolve(exit);
    };
    child.once('exit', (code, sig) => void finish({ code, signal: sig }));
    // `on`, not `once`: an unhandled 'error' event would crash the daemon.
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // after a successful spawn (a failed kill) it is not an exit
      output.note(`failed to execute ${executable}: ${error.code ?? error.message}`);
      void finish({ code: 127, signal: null });
    });
  });
}

export interface TerminateOptions {
  deps: SupervisorDeps;
  log: Logger;
  instance: string;
  pid: number;
  exited: Promise<Exited>;
  graceMs: number;
  /** Read at the start: SIGKILL at once instead of SIGTERM (a second SIGTERM to the daemon). */
  immediate(): boolean;
}

/** SIGTERM the group, SIGKILL after the grace period (or at once when asked), then wait for the whole group. */
export async function terminateGroup(options: TerminateOptions): Promise<Exited> {
  const { deps, pid, exited, graceMs } = options;
  const immediate = options.immediate();
  signalGroup(deps, pid, immediate ? 'SIGKILL' : 'SIGTERM');
  // A stopped process (SIGSTOP, a debugger, a frozen cgroup) cannot act on SIGTERM until it is
  // continued; without SIGCONT a hung-and-stopped server always costs the full grace period.
  if (!immediate) signalGroup(deps, pid, 'SIGCONT');
  const timeout = new AbortController();
  const graceOver = deps.sleep(graceMs, timeout.signal).then(
    () => 'grace' as const,
    () => 'cancelled' as const,
  );
  const first = await Promise.race([exited, graceOver]);
  timeout.abort();
  let exit: Exited;
  if (first === 'grace' || first === 'cancelled') {
    options.log.warn({ step: 'supervise', instance: options.instance, pid, grace_ms: graceMs }, 'did not exit within the stop grace period; sending SIGKILL');
    signalGroup(deps, pid, 'SIGKILL');
    const killWait = new AbortController();
    const late = await Promise.race([exited, deps.sleep(KILL_EXIT_WAIT_MS, killWait.signal).then(() => null, () => null)]);
    killWait.abort();
    exit = late ?? { code: null, signal: 'SIGKILL' };
  } else {
    exit = first;
  }
  await waitGroupGone(deps, pid, options.immediate() ? 0 : graceMs);
  return exit;
}
