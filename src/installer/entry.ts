/**
 * installPackage as boot and the CLI call it: an install that is plainly unchanged is answered
 * by unchanged.ts without loading the installer; anything else goes to the full install, loaded
 * only then (with its archive readers, hashing and process library).
 */
import { ensureStep } from '../log.js';
import type { InstallOptions, InstallOutcome } from './types.js';
import { unchangedInstall } from './unchanged.js';

export async function installPackage(o: InstallOptions): Promise<InstallOutcome> {
  if (!o.force && !o.verify) {
    const unchanged = await unchangedInstall({ pkgPath: o.pkgPath, paths: o.paths, env: o.env });
    if (unchanged) {
      const log = ensureStep(o.log, 'install');
      for (const e of unchanged.events) log.info(e.fields, e.msg);
      return unchanged.outcome;
    }
  }
  const full = await import('./install.js');
  return full.installPackage(o);
}
