import type { Command } from './command.js';
import { ROUTES, type ReadyBody } from '../control/api.js';
import { requestJson } from '../client/control-client.js';

export const command: Command = {
  name: 'health',
  summary: 'exit 0 iff every enabled instance is ready (for HEALTHCHECK / exec probes)',
  help: `Usage: infer-entry health [--quiet]

Asks the daemon whether every enabled instance of the loaded config is ready.
Exit 0: ready (also when no instance is enabled); 1: not ready (the line says which);
69: no daemon is reachable on the control socket.

Options:
  -q, --quiet   print nothing`,
  options: { quiet: { type: 'boolean', short: 'q' } },
  async run(ctx) {
    const { body } = await requestJson<ReadyBody>(ctx.paths.socket, 'GET', ROUTES.readyz, undefined, { acceptStatus: [503] });
    if (!ctx.values.quiet) {
      ctx.stdout.write(
        body.ready
          ? 'ready\n'
          : body.starting
            ? `not ready: ${body.starting}\n`
            : `not ready: ${body.notReady.map((i) => `${i.name} (${i.state})`).join(', ')}\n`,
      );
    }
    return body.ready ? 0 : 1;
  },
};
