/**
 * The real modules behind DaemonDeps (the CLI commands use these; unit tests pass fakes).
 * Loaded on first use: `boot` without a config never pays for zod and the TOML parser. A config
 * is loaded in a child process, so the daemon keeps answering while a large one is parsed.
 */
import { createSupervisor } from '../supervisor/supervisor.js';
import type { DaemonDeps } from './daemon.js';

type ConfigModule = typeof import('../config/load-in-child.js');

export function realDaemonDeps(): DaemonDeps {
  let config: ConfigModule | undefined;
  const configModule = async () => (config ??= await import('../config/load-in-child.js'));
  // Each installer module on its own, not the index: a boot that installs nothing (or finds the
  // archive unchanged) keeps the archive readers, rollback and the process library unloaded.
  return {
    createSupervisor: (options) => createSupervisor(options),
    loadConfig: async (file, options) => (await configModule()).loadConfigInChild(file, options),
    installOnBoot: async (options) => (await import('../installer/on-boot.js')).installOnBoot(options),
    readInstalledMarker: async (paths) => (await import('../installer/marker.js')).readInstalledMarker(paths),
    ensureConvenienceLinks: async (options) => (await import('../installer/convenience-links.js')).ensureConvenienceLinks(options),
  };
}
