/** `start|stop|restart NAME [--wait]`: one request to the daemon, then the instance's row. */
import type { Command } from './command.js';
import { UsageError } from '../errors.js';
import type { InstanceAction } from '../control/api.js';
import { requestInstanceAction } from '../client/instance-action.js';
import { formatStatusTable } from '../client/render.js';

const VERBS: Record<InstanceAction, string> = {
  start: 'Start a stopped or failed instance (one waiting in backoff starts at once)',
  stop: 'Stop an instance (SIGTERM to its process group, SIGKILL after the grace period); the supervisor will not restart it',
  restart: 'Stop then start an instance (resets its failed state)',
};

export function instanceActionCommand(action: InstanceAction): Command {
  return {
    name: action,
    summary: `${action} one llama-server instance of the running daemon`,
    help: `Usage: infer-entry ${action} NAME [--wait] [--json]

${VERBS[action]}, through the daemon's control socket.

Options:
  --wait   ${action === 'stop' ? 'no effect (stop always returns once the process group is gone)' : 'wait until the instance is ready or failed before printing'}
  --json   print the instance's status as JSON`,
    options: { wait: { type: 'boolean' }, json: { type: 'boolean' } },
    allowPositionals: true,
    async run(ctx) {
      if (ctx.positionals.length !== 1) throw new UsageError(`${action} takes exactly one instance name (got ${ctx.positionals.length})`);
      const status = await requestInstanceAction(ctx.paths.socket, action, ctx.positionals[0]!, ctx.values.wait === true);
      ctx.stdout.write(ctx.values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatusTable([status]));
      if (action === 'stop') return 0;
      return status.state === 'failed' ? 1 : 0;
    },
  };
}
