/** Every command of the CLI, loaded lazily so `--help` stays fast. */
import type { Command } from './command.js';

const load = (importer: () => Promise<{ command: Command }>) => async () => (await importer()).command;

export const commands: Record<string, () => Promise<Command>> = {
  // installer (issue 3)
  // config (issue 4)
  // supervisor, control plane and boot (issue 5)
};

void load;
