import type { Command } from './command.js';
import { checkAndRun } from '../boot/check-and-run.js';
import { realDaemonDeps } from '../boot/real-deps.js';

export const command: Command = {
  name: 'check-and-run',
  summary: 'validate a config, then start its instances (via the daemon, or in the foreground)',
  help: `Usage: infer-entry check-and-run [--config FILE] [--json] [NAME...]

Validates FILE (default: AUTO_INFER_LLAMA_CPP_CONFIG); an invalid file prints every problem and
starts nothing (exit 78). Then:
  - a daemon is running (the container's boot): it loads FILE (added instances start, removed
    ones stop, changed ones restart), starts the named instances (default: all enabled ones) that
    are stopped or failed, and this command prints their states once each is ready or failed.
    FILE replaces the daemon's config: when it serves another file, its instances that FILE does
    not define are stopped (they are named), and later reloads re-read FILE;
  - no daemon: supervises the named (default: enabled) instances in the foreground, with the
    control socket open for status/logs, until Ctrl-C.
Exit (with a daemon): 0 when every started instance became ready, 1 when one failed.
In the foreground the states are printed once they settle; Ctrl-C stops everything (exit 0).
No config file given or set, or an invalid one: 78; a NAME the file does not define: 64.

Options:
  -c, --config FILE   the config file
  --json              print the states as JSON`,
  options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
  allowPositionals: true,
  run(ctx) {
    return checkAndRun({
      file: typeof ctx.values.config === 'string' ? ctx.values.config : undefined,
      names: ctx.positionals,
      json: ctx.values.json === true,
      env: ctx.env,
      paths: ctx.paths,
      log: ctx.log,
      deps: realDaemonDeps(),
      stdout: ctx.stdout,
      stderr: ctx.stderr,
    });
  },
};
