/** `infer-entry rollback`: re-activate the release that was active before the last install (a second rollback undoes the first). */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ensureStep } from '../log.js';
import { MissingInputError, PackageError } from '../errors.js';
import type { Paths } from '../paths.js';
import { readActive } from './active.js';
import { activate, rollbackTarget } from './activate.js';
import { statfsFreeBytes, writeFailure } from './disk.js';
import { acquireInstallLock } from './lock.js';
import { readMarkerIn } from './marker.js';
import type { InstalledMarker } from './types.js';

export interface RollbackOutcome {
  releaseDir: string;
  /** The release that was active and is now the rollback target. */
  from: string | null;
  marker: InstalledMarker | null;
}

export async function rollback(o: { paths: Paths; log: Logger; lockWaitMs?: number; signal?: AbortSignal }): Promise<RollbackOutcome> {
  const { paths } = o;
  const log = ensureStep(o.log, 'rollback', 'install');
  const lock = await acquireInstallLock(paths.installLock, log, { waitMs: o.lockWaitMs, signal: o.signal });
  try {
    const target = await rollbackTarget(paths);
    if (!target) {
      throw new MissingInputError('E_NO_PREVIOUS', `no previous release to roll back to in ${paths.releases}`, {
        hint: 'rollback needs an earlier install on this machine; install the package you want with `infer-entry install --pkg PATH`',
      });
    }
    const releaseDir = path.join(paths.releases, target);
    const server = await stat(path.join(releaseDir, 'bin', 'llama-server')).catch(() => null);
    if (!server?.isFile()) {
      throw new PackageError('E_ROLLBACK_BROKEN', `previous release ${releaseDir} has no bin/llama-server`, { hint: 'reinstall the package you want with `infer-entry install --pkg PATH`' });
    }
    const before = await readActive(paths);
    const from = await activate(paths, target, log).catch(async (error: unknown) => {
      // the new link needs an inode: a full disk is exit 74 with what to do, not a stack trace
      if ((error as { syscall?: unknown }).syscall === undefined) throw error;
      throw await writeFailure(error, statfsFreeBytes, paths.root, 4096, 'switch the llama-cpp link');
    });
    const marker = await readMarkerIn(releaseDir);
    log.info({ release: releaseDir, from, archive: marker?.archive_name }, `rolled back ${paths.install} -> ${path.relative(paths.root, releaseDir)}`);
    return { releaseDir, from: from ?? (before?.kind === 'release' ? before.name : null), marker };
  } finally {
    await lock.release();
  }
}
