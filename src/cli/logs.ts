import type { Command } from './command.js';
import { UsageError } from '../errors.js';
import { DEFAULT_LOG_LINES, ROUTES } from '../control/api.js';
import { streamText } from '../client/control-client.js';

export const command: Command = {
  name: 'logs',
  summary: 'print (and follow) the output of one instance',
  help: `Usage: infer-entry logs NAME [-n N] [-f]

Prints the last lines the instance wrote (stdout and stderr, secrets redacted) from the daemon's
in-memory buffer.

Options:
  -n, --lines N   how many lines (default ${DEFAULT_LOG_LINES}; 0 with -f = only new lines)
  -f, --follow    keep printing new lines until Ctrl-C`,
  options: { lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' } },
  allowPositionals: true,
  async run(ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError(`logs takes exactly one instance name (got ${ctx.positionals.length})`);
    const raw = ctx.values.lines;
    const n = raw === undefined ? DEFAULT_LOG_LINES : Number(raw);
    if (typeof raw === 'string' && (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))) throw new UsageError(`--lines ${raw} is not a whole number ≥ 0`);
    const follow = ctx.values.follow === true;
    const path = `${ROUTES.instances}/${encodeURIComponent(ctx.positionals[0]!)}/logs?n=${n}${follow ? '&follow=1' : ''}`;
    if (!follow) {
      await streamText(ctx.paths.socket, path, ctx.stdout);
      return 0;
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await streamText(ctx.paths.socket, path, ctx.stdout, controller.signal);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};
