import { isatty } from 'node:tty';
import type { Command } from './command.js';
import { runBoot } from '../boot/boot.js';
import { realDaemonDeps } from '../boot/real-deps.js';

export const command: Command = {
  name: 'boot',
  summary: 'the container entrypoint: install, auto-serve, supervise, run CMD',
  help: `Usage: infer-entry boot [-- CMD [ARGS...]]

The image's ENTRYPOINT (run under tini). In order:
  1. opens the control socket ($INFER_ENTRY_ROOT/run/infer-entry.sock, mode 0600) and, when
     AUTO_INFER_STATUS_ADDR=host:port is set, a read-only /healthz /readyz /metrics listener;
     'health' says not ready until steps 2 and 3 are done;
  2. installs the llama.cpp archive when AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT=1|true; a failure is
     logged at error level and the boot continues with the previous install;
  3. starts the enabled instances only when AUTO_INFER_LLAMA_CPP_ON_BOOT=1|true AND
     AUTO_INFER_LLAMA_CPP_CONFIG names a config file; an invalid file is logged problem by problem
     and the daemon stays up so you can fix it and run 'infer-entry reload';
  4. with a CMD: runs it with the terminal passed through; when it exits, stops the instances and
     exits with its status (128+N if killed by signal N). Without a CMD: runs until SIGTERM/SIGINT.

Signals: SIGTERM/SIGINT stop everything (forwarded to the CMD first; a second one kills at once);
SIGHUP reloads the config; SIGUSR1/SIGUSR2 are forwarded to the CMD; SIGQUIT is forwarded to the
CMD (without one it stops). With a terminal, Ctrl-C and Ctrl-\\ go to the CMD only.

Logs go to stdout (what 'docker logs' shows): JSON lines, or pretty on a terminal.

Exit status: 0 after a clean stop without CMD; the CMD's status with one; 75 when another daemon
already owns the control socket; 73 when the socket cannot be created; 128+N after a forced stop.`,
  options: {},
  acceptsRest: true,
  logToStdout: true,
  run(ctx) {
    return runBoot({
      env: ctx.env,
      paths: ctx.paths,
      log: ctx.log,
      deps: realDaemonDeps(),
      cmd: ctx.rest,
      // isatty, not process.stdin: creating the stdin stream would make Node read the CMD's terminal.
      stdinIsTTY: isatty(0),
    });
  },
};
