/**
 * infer-entry's supervisor as a standalone process for bench/supervisor.ts, so its RSS and CPU can be
 * measured like supervisord's and PM2's. Usage: node dist/bench/supervisor-driver.js SPECS.json
 * Prints every transition as one JSON line on stdout; SIGTERM stops everything and exits.
 */
import { readFileSync } from 'node:fs';
import { createLogger } from '../src/log.js';
import { createSupervisor } from '../src/supervisor/supervisor.js';
import type { InstanceSpec } from '../src/config/types.js';

const specs = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as InstanceSpec[];
// JSON events on stderr, as in a container (the bench points stderr at a file).
const log = createLogger({ destination: 2, pretty: false });
const supervisor = createSupervisor({ log });
supervisor.onTransition((event) => {
  process.stdout.write(`${JSON.stringify({ instance: event.instance, to: event.to, at: event.at, pid: event.pid })}\n`);
});
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void supervisor.stopAll().then(() => process.exit(0));
});
await supervisor.reload({ file: '<bench>', enable: true, instances: specs });
