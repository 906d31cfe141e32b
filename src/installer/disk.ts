/** Free-space checks, so a full disk is reported before we write, with the amount needed. */
import { statfs } from 'node:fs/promises';
import { IoError, errnoCode } from '../errors.js';
import { formatBytes } from './limits.js';
import type { FreeBytesProbe } from './types.js';

export const statfsFreeBytes: FreeBytesProbe = async (dir) => {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
};

export async function ensureFreeSpace(probe: FreeBytesProbe, dir: string, needed: number, reserve: number, what: string): Promise<void> {
  const free = await probe(dir);
  if (free < needed + reserve) {
    throw noSpaceError(dir, needed + reserve, free, what);
  }
}

export function noSpaceError(dir: string, needed: number, free: number, what: string, cause?: unknown): IoError {
  const short = Math.max(0, needed - free);
  return new IoError('E_NO_SPACE', `not enough free space in ${dir} to ${what}: needs ${formatBytes(needed)}, ${formatBytes(free)} free`, {
    hint: `free at least ${formatBytes(short)} on that filesystem (or point INFER_ENTRY_ROOT elsewhere) and retry`,
    cause,
    details: { dir, neededBytes: needed, freeBytes: free },
  });
}

/** Wrap a write failure: ENOSPC/EDQUOT become E_NO_SPACE with the space needed; others an I/O error. */
export async function writeFailure(error: unknown, probe: FreeBytesProbe, dir: string, needed: number, what: string): Promise<IoError> {
  const code = errnoCode(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const free = await probe(dir).catch(() => 0);
    return noSpaceError(dir, needed, free, what, error);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new IoError('E_IO', `cannot ${what} in ${dir}: ${message}`, { hint: 'check the filesystem and its permissions', cause: error });
}
