/** Boot's install step: the environment contract of the infer-dev image (AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT / _PKG_PATH). */
import type { Logger } from 'pino';
import { ensureStep } from '../log.js';
import { MissingInputError } from '../errors.js';
import { ENV, readFlagLogged } from '../env.js';
import type { Paths } from '../paths.js';
import { installPackage } from './entry.js';
import type { InstallOutcome } from './types.js';

export async function installOnBoot(o: { env: NodeJS.ProcessEnv; paths: Paths; log: Logger }): Promise<InstallOutcome | null> {
  const log = ensureStep(o.log, 'install');
  const flag = readFlagLogged(ENV.GET_PKG_ON_BOOT, log, o.env);
  if (!flag.enabled) {
    log.info({ reason: flag.reason }, `not installing a llama.cpp package on boot: ${flag.reason}`);
    return null;
  }
  const pkgPath = o.env[ENV.PKG_PATH];
  if (!pkgPath || pkgPath.trim() === '') {
    throw new MissingInputError('E_PKG_PATH_UNSET', `${ENV.GET_PKG_ON_BOOT} is on but ${ENV.PKG_PATH} is not set`, {
      hint: `set ${ENV.PKG_PATH} to the mounted llama.cpp archive, or set ${ENV.GET_PKG_ON_BOOT}=0`,
    });
  }
  // an unchanged archive is not re-read on boot; the switch makes boot hash it all the same
  const verify = readFlagLogged(ENV.PKG_VERIFY, log, o.env).enabled;
  return installPackage({ pkgPath, paths: o.paths, log, env: o.env, verify });
}
