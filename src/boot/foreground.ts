/**
 * check-and-run without a daemon: this process becomes the daemon for the
 * chosen instances (control socket included) until Ctrl-C.
 */
import type { Logger } from 'pino';
import type { Paths } from '../paths.js';
import { reportSettled } from '../client/render.js';
import type { DaemonDeps } from './daemon.js';
import { runDaemon } from './run-daemon.js';
import type { SignalSource } from './signals.js';

export interface ForegroundOptions {
  /** Absolute path of the validated config file. */
  file: string;
  /** Instances to start; the others stay listed as stopped. */
  targets: string[];
  json: boolean;
  env: NodeJS.ProcessEnv;
  paths: Paths;
  log: Logger;
  deps: DaemonDeps;
  stdout: NodeJS.WritableStream;
  signals?: SignalSource;
}

export function superviseInForeground(options: ForegroundOptions): Promise<number> {
  const { file, targets } = options;
  const wanted = new Set(targets);
  return runDaemon({
    env: options.env,
    paths: options.paths,
    log: options.log,
    deps: options.deps,
    cmd: [],
    ...(options.signals ? { signals: options.signals } : {}),
    async prepare(daemon, stopRequested) {
      // Only the chosen instances start; the others stay listed as stopped (startable with `start`).
      await daemon.reload(file, (config) => ({
        ...config,
        enable: config.enable || targets.length > 0,
        instances: config.instances.map((i) => ({ ...i, enabled: wanted.has(i.name) })),
      }));
      if (targets.length === 0) return;
      await daemon.supervisor.waitSettled(targets);
      if (stopRequested()) return; // Ctrl-C before they settled: they are being stopped, nothing to report
      reportSettled(daemon.supervisor.list().filter((s) => wanted.has(s.name)), options.json, options.stdout);
    },
  });
}
