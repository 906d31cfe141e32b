/**
 * The daemon's life from socket to exit: optional preparation (install,
 * auto-serve), the optional CMD child, and what each signal means.
 *
 * Signals: SIGTERM/SIGINT stop (forwarded to the CMD first when there is one);
 * a second one kills at once; SIGHUP reloads the config (never forwarded);
 * SIGUSR1/SIGUSR2 go to the CMD; SIGQUIT goes to the CMD, or stops without one.
 * With a terminal on stdin, SIGINT/SIGQUIT came from the keyboard and already
 * reached the CMD (same process group), so they are left to it.
 */
import { InferEntryError, ExitCode } from '../errors.js';
import { exitStatusForSignal } from '../supervisor/exit-status.js';
import { startCmd, type CmdChild } from './cmd-child.js';
import { logReloadError, startDaemon, type Daemon, type StartDaemonOptions } from './daemon.js';
import { DaemonPhase } from './daemon-phase.js';
import { onSignals, type HandledSignal, type SignalSource } from './signals.js';

export const DEFAULT_CMD_STOP_GRACE_MS = 8000;
/** After a forced stop, exit even if something still hangs. */
const FORCED_EXIT_FALLBACK_MS = 3000;

export interface RunDaemonOptions extends StartDaemonOptions {
  /** The CMD after `--`; empty = run as a daemon until SIGTERM/SIGINT. */
  cmd: string[];
  signals?: SignalSource;
  stdinIsTTY?: boolean;
  /** How long the CMD has after a forwarded SIGTERM before SIGKILL. */
  cmdStopGraceMs?: number;
  /** Runs once the control socket is up, before the CMD starts. */
  prepare?(daemon: Daemon, stopRequested: () => boolean): Promise<void>;
  /** Tests: see the daemon once it is up. */
  onStarted?(daemon: Daemon): void;
}

export async function runDaemon(options: RunDaemonOptions): Promise<number> {
  const { log } = options;
  const signals = options.signals ?? (process as unknown as SignalSource);
  const grace = options.cmdStopGraceMs ?? DEFAULT_CMD_STOP_GRACE_MS;
  // Handlers first: as PID 1 a signal without a handler is dropped, and under tini its default
  // action kills us (143) — a `docker stop` during start-up must still stop cleanly. Signals that
  // arrive before the daemon exists are replayed once it does.
  const early: HandledSignal[] = [];
  let handle: ((signal: HandledSignal) => void) | null = null;
  const removeHandlers = onSignals(signals, (signal) => (handle ? handle(signal) : early.push(signal)));
  let daemon: Daemon;
  try {
    daemon = await startDaemon(options);
  } catch (error) {
    removeHandlers();
    throw error;
  }
  options.onStarted?.(daemon);

  let exitStatus = 0;
  const phase = new DaemonPhase();
  let cmd: CmdChild | undefined;
  let cmdKillTimer: NodeJS.Timeout | undefined;
  let fallbackTimer: NodeJS.Timeout | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));

  const cmdRunning = () => cmd !== undefined && !cmd.hasExited();
  const finish = () => {
    daemon.close().then(
      () => resolveDone(exitStatus),
      (error: unknown) => {
        log.error({ err: error }, 'stopping the instances failed');
        resolveDone(exitStatus === 0 ? ExitCode.FAILURE : exitStatus);
      },
    );
  };

  const onSignal = (signal: HandledSignal) => {
    if (signal === 'SIGHUP') {
      log.info({ signal }, 'reloading the config');
      daemon.reload().then(
        (body) => log.info({ file: body.file, ...body.result }, 'reload done'),
        (error: unknown) => logReloadError(log, error, 'reload on SIGHUP'),
      );
      return;
    }
    if (signal === 'SIGUSR1' || signal === 'SIGUSR2') {
      if (cmdRunning()) cmd!.signal(signal);
      else log.info({ signal }, 'signal ignored (no command to forward it to)');
      return;
    }
    const fromKeyboard = (signal === 'SIGINT' || signal === 'SIGQUIT') && options.stdinIsTTY === true && cmdRunning();
    if (fromKeyboard) {
      log.debug({ signal }, 'left to the command (the terminal delivered it)');
      return;
    }
    if (signal === 'SIGQUIT' && cmdRunning()) {
      cmd!.signal(signal);
      return;
    }
    if (phase.stopRequested) {
      if (!phase.advance()) return; // already forced
      log.warn({ signal }, 'second stop signal: killing everything now');
      if (cmdRunning()) cmd!.signal('SIGKILL');
      else exitStatus = exitStatusForSignal(signal);
      void daemon.close({ immediate: true }).catch(() => undefined);
      fallbackTimer = setTimeout(() => resolveDone(exitStatus || exitStatusForSignal(signal)), FORCED_EXIT_FALLBACK_MS);
      return;
    }
    phase.beginStop();
    if (cmdRunning()) {
      log.info({ signal, pid: cmd!.pid }, 'stopping: signal forwarded to the command; stopping the instances');
      cmd!.signal(signal);
      cmdKillTimer = setTimeout(() => {
        log.warn({ graceMs: grace, pid: cmd?.pid }, 'the command did not exit in time: SIGKILL');
        cmd?.signal('SIGKILL');
      }, grace);
      // The container is going down: stop the instances while the command exits.
      void daemon.close().catch(() => undefined);
    } else {
      log.info({ signal }, 'stopping');
      finish();
    }
  };
  handle = onSignal;
  for (const signal of early.splice(0)) onSignal(signal);

  void (async () => {
    try {
      await options.prepare?.(daemon, () => phase.stopRequested);
    } catch (error) {
      const e = error instanceof InferEntryError ? error : undefined;
      log.error({ code: e?.code, hint: e?.hint, err: e ? undefined : error }, `start-up failed: ${e ? e.message : String(error)}`);
      if (phase.beginStop()) {
        exitStatus = e ? e.exitCode : ExitCode.SOFTWARE;
        finish();
      }
      return;
    }
    if (phase.stopRequested || options.cmd.length === 0) return;
    cmd = startCmd(options.cmd, { env: options.env, log });
    const status = await cmd.exited;
    clearTimeout(cmdKillTimer);
    exitStatus = status;
    if (phase.beginStop()) log.info({ status }, 'the command exited: stopping the instances');
    finish();
  })();

  try {
    return await done;
  } finally {
    clearTimeout(cmdKillTimer);
    clearTimeout(fallbackTimer);
    removeHandlers();
  }
}
