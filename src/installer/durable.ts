/**
 * The new tree reaches the disk before the link is moved onto it. A SIGKILL cannot tear an install
 * (the page cache outlives the process), but a power loss or a host crash can: ext4 and xfs order a
 * rename after the data only for a file replaced by rename, not for a new tree whose files were
 * written and never synced, so the link could name files that come back empty.
 *
 * One syncfs(2) of the tree's filesystem (coreutils' `sync -f`) costs ~0.1 s after a 300 MiB
 * extraction on the project's machine; without it (no `sync`, or an old one without -f), every file
 * and directory of the tree is fsynced, a few at a time.
 */
import { execFile } from 'node:child_process';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';

const FSYNC_CONCURRENCY = 8;

export async function makeDurable(tree: string): Promise<void> {
  if (await syncFilesystem(tree)) return;
  const entries = await readdir(tree, { recursive: true, withFileTypes: true });
  const paths = entries.filter((e) => e.isFile() || e.isDirectory()).map((e) => path.join(e.parentPath ?? e.path, e.name));
  paths.push(tree);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const handle = await open(paths[next++]!, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: FSYNC_CONCURRENCY }, worker));
}

/** true when `sync -f` synced the filesystem holding `dir`. */
function syncFilesystem(dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sync', ['-f', dir], { timeout: 120_000 }, (error) => resolve(error === null));
  });
}
