/** Every command of the CLI, loaded lazily so `--help` stays fast. */
import type { Command } from './command.js';

const load = (importer: () => Promise<{ command: Command }>) => async () => (await importer()).command;

export const commands: Record<string, () => Promise<Command>> = {
  // installer
  install: load(() => import('./install.js')),
  rollback: load(() => import('./rollback.js')),
  // config
  validate: load(() => import('./validate.js')),
  schema: load(() => import('./schema.js')),
  // supervisor, control plane and boot
  boot: load(() => import('./boot.js')),
  status: load(() => import('./status.js')),
  logs: load(() => import('./logs.js')),
  start: load(() => import('./start.js')),
  stop: load(() => import('./stop.js')),
  restart: load(() => import('./restart.js')),
  reload: load(() => import('./reload.js')),
  health: load(() => import('./health.js')),
  'check-and-run': load(() => import('./check-and-run.js')),
};
