/** Free-space checks, so a full disk is reported before we write, with the amount needed. */
import { lstat, readdir, statfs } from 'node:fs/promises';
import path from 'node:path';
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
    if (free < needed) return noSpaceError(dir, needed, free, what, error);
    // bytes are free, yet the kernel said no: "needs X, more than X free" would contradict itself
    const inodes = await statfs(dir).then((s) => Number(s.ffree), () => undefined);
    // cleanup may have freed a few inodes by the time we look: "almost none" is the signal
    const why = code === 'EDQUOT' ? 'the disk quota is exhausted' : inodes !== undefined && inodes < 32 ? 'the filesystem has no free inodes left' : 'the filesystem refused the write';
    const counts = inodes === undefined ? `${formatBytes(free)} of space free` : `${formatBytes(free)} of space and ${inodes} inodes free`;
    return new IoError('E_NO_SPACE', `no space left in ${dir} to ${what}: ${why} (${counts})`, {
      hint: 'free space and inodes on that filesystem (check df -h and df -i) or point INFER_ENTRY_ROOT elsewhere, and retry',
      cause: error,
      details: { dir, neededBytes: needed, freeBytes: free, freeInodes: inodes },
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new IoError('E_IO', `cannot ${what} in ${dir}: ${message}`, { hint: 'check the filesystem and its permissions', cause: error });
}

/** Space a tree really takes on disk (allocated blocks, like `du`), for "how much is needed" after a full disk. */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    total += st.blocks * 512;
    if (st.isDirectory()) for (const name of await readdir(p)) await walk(path.join(p, name));
  };
  await walk(dir);
  return total;
}
