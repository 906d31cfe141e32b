/**
 * The user's CMD (`boot -- bash`, `boot -- sleep infinity`, an app): a child
 * that shares our terminal and process group, as `exec "$@"` did in the old
 * entry script, so job control and Ctrl-C behave the same.
 */
// node:child_process, not execa: the CMD lives as long as the container and shares our signals.
// execa's defaults would get in the way (its cleanup installs process signal handlers beside
// PID 1's own, kill() schedules a SIGKILL of its own after 5 s), and turning them off leaves
// nothing smaller than this file.
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { redactArgv } from '../redact.js';
import { exitStatusForSignal } from '../supervisor/exit-status.js';

export interface CmdChild {
  pid: number | undefined;
  /** Resolves with the shell-style status: its exit code, or 128+N when killed by signal N (127/126 when it cannot start). */
  exited: Promise<number>;
  hasExited(): boolean;
  signal(signal: NodeJS.Signals): void;
}

export function startCmd(argv: string[], options: { env: NodeJS.ProcessEnv; log: Logger }): CmdChild {
  const { log } = options;
  const [file, ...args] = argv;
  let done = false;
  const shown = redactArgv(argv);
  const child = spawn(file!, args, { stdio: 'inherit', env: options.env });
  const exited = new Promise<number>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (done) return;
      done = true;
      const status = error.code === 'ENOENT' ? 127 : 126;
      log.error({ cmd: shown, code: error.code, status }, `cannot run the command ${shown[0]}: ${error.message}`);
      resolve(status);
    });
    child.once('exit', (code, signal) => {
      if (done) return;
      done = true;
      const status = code ?? exitStatusForSignal(signal);
      log.info({ cmd: shown, exit_code: code, signal, status }, 'command exited');
      resolve(status);
    });
  });
  if (child.pid !== undefined) log.info({ cmd: shown, pid: child.pid }, 'command started');
  return {
    pid: child.pid,
    exited,
    hasExited: () => done,
    signal(sig) {
      if (done || child.pid === undefined) return;
      try {
        process.kill(child.pid, sig);
      } catch {
        // already gone: its exit event is on its way
      }
    },
  };
}
