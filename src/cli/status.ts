import type { Command } from './command.js';
import { ROUTES, type InstancesBody } from '../control/api.js';
import { requestJson } from '../client/control-client.js';
import { formatStatusTable } from '../client/render.js';

export const command: Command = {
  name: 'status',
  summary: 'show the instances of the running daemon',
  help: `Usage: infer-entry status [--json]

Lists every instance of the loaded config: state (stopped, starting, ready, unhealthy, stopping,
backoff, failed), pid, address, uptime, restarts, last exit and why. Secrets never appear.

Options:
  --json   the full status as JSON ({"instances": [...]}, argv redacted)`,
  options: { json: { type: 'boolean' } },
  async run(ctx) {
    const { body } = await requestJson<InstancesBody>(ctx.paths.socket, 'GET', ROUTES.instances);
    ctx.stdout.write(ctx.values.json ? `${JSON.stringify(body, null, 2)}\n` : formatStatusTable(body.instances));
    return 0;
  },
};
