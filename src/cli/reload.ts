import path from 'node:path';
import type { Command } from './command.js';
import { ROUTES, type ReloadBody } from '../control/api.js';
import { requestJson } from '../client/control-client.js';
import { writeReloadProblems } from '../client/render.js';

export const command: Command = {
  name: 'reload',
  summary: 'make the daemon re-read its config file (same as SIGHUP)',
  help: `Usage: infer-entry reload [--config FILE]

Re-reads FILE, else the config file the daemon loaded last, else the daemon's
AUTO_INFER_LLAMA_CPP_CONFIG, and applies the difference: added instances start, removed ones
stop, changed ones restart, unchanged ones keep running (an enabled one that failed gets another
try: reload after fixing a model file or a port). An invalid file (or no file to load) changes
nothing; its problems are printed (exit 78).

Options:
  -c, --config FILE   load this file instead (the daemon remembers it for the next reload)`,
  options: { config: { type: 'string', short: 'c' } },
  async run(ctx) {
    const file = typeof ctx.values.config === 'string' ? path.resolve(ctx.values.config) : undefined;
    try {
      const { body } = await requestJson<ReloadBody>(ctx.paths.socket, 'POST', ROUTES.reload, file ? { file } : {});
      const r = body.result;
      const list = (names: string[]) => (names.length > 0 ? names.join(', ') : '-');
      ctx.stdout.write(
        `reloaded ${body.file}\n  added:     ${list(r.added)}\n  removed:   ${list(r.removed)}\n  changed:   ${list(r.changed)}\n  unchanged: ${list(r.unchanged)}\n`,
      );
      return 0;
    } catch (error) {
      writeReloadProblems(error, ctx.stderr);
      throw error;
    }
  },
};
