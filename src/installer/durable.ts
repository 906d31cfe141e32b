/**
 * The new tree reaches the disk before the link is moved onto it. A SIGKILL cannot tear an install
 * (the page cache outlives the process), but a power loss or a host crash can: ext4 and xfs order a
 * rename after the data only for a file replaced by rename, not for a new tree whose files were
 * written and never synced, so the link could name files that come back empty.
 *
 * One syncfs(2) of the tree's filesystem (coreutils' `sync -f`) costs ~0.3 s after a 300 MiB
 * extraction on the project's machine; without it (no `sync`, or an old one without -f), every file
 * and directory of the tree is fsynced, a few at a time. fsyncing each file instead, even while the
 * extraction runs, was measured slower: on ext4 every fsync of a new file is a journal commit, and
 * the extraction's own metadata writes queue behind them (bench/README.md, install section).
 */
import { execFile } from 'node:child_process';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

const FSYNC_CONCURRENCY = 8;

export async function makeDurable(tree: string, signal?: AbortSignal): Promise<void> {
  if (await syncFilesystem(tree, signal)) return;
  signal?.throwIfAborted();
  const entries = await readdir(tree, { recursive: true, withFileTypes: true });
  const paths = entries.filter((e) => e.isFile() || e.isDirectory()).map((e) => path.join(e.parentPath ?? e.path, e.name));
  paths.push(tree);
  await fsyncPaths(paths);
}

/** fsync(2) of each file or directory, a few at a time. */
export async function fsyncPaths(paths: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const handle = await open(paths[next++]!, 'r');
      try {
        // EINVAL: a filesystem that cannot sync this kind of file (fsync(2)); nothing to wait for
        await handle.sync().catch((error: unknown) => {
          if (errnoCode(error) !== 'EINVAL') throw error;
        });
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FSYNC_CONCURRENCY, paths.length) }, worker));
}

/** true when `sync -f` synced the filesystem holding `dir`. */
function syncFilesystem(dir: string, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sync', ['-f', dir], { timeout: 120_000, signal }, (error) => resolve(error === null));
  });
}
