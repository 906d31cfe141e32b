/**
 * Running out of disk in the middle of an extraction, for real: the install
 * root is a small tmpfs mounted in the test's temp dir, so the kernel itself
 * returns ENOSPC. Expected: exit 74 naming what is short, the staging tree
 * removed, the previous install untouched.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readlink, statfs } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InferEntryError } from '../../src/errors.js';
import { installPackage } from '../../src/installer/index.js';
import { silentLogger } from '../../src/log.js';
import { layoutEntries, serverFiles, writeArchive, type Entry } from '../fixtures/installer/archive-builder.js';
import { cli } from '../fixtures/installer/run-cli.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';
import { mountTmpfs } from '../fixtures/installer/tmpfs.js';

let t: TempRoot;
let unmount: (() => void) | undefined;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  unmount?.();
  unmount = undefined;
  await t.cleanup();
});

/** Many one-byte files: ~1 KiB each in the archive, a whole 4 KiB page each on tmpfs, so the size estimate passes and the disk still fills up. */
function manySmallFiles(count: number): Entry[] {
  const entries = layoutEntries('documented', serverFiles({ seed: 'big' }));
  for (let i = 0; i < count; i++) entries.push({ type: 'file', path: `share/f${String(i).padStart(5, '0')}`, content: 'x' });
  return entries;
}

async function activeState(): Promise<{ link: string; tree: Record<string, string> }> {
  return { link: await readlink(t.paths.install), tree: await snapshot(path.join(t.paths.releases, path.basename(await readlink(t.paths.install)))) };
}

describe('disk full during extraction (real tmpfs)', () => {
  it('ENOSPC in the middle of writing files stops with exit 74 and the space needed, removes the staging tree and keeps the old install', async () => {
    unmount = await mountTmpfs(t.root, 'size=2m');
    const opts = { paths: t.paths, log: silentLogger(), env: t.env, reserveBytes: 0 };
    const good = await writeArchive(path.join(t.dir, 'good.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await installPackage({ pkgPath: good, ...opts });
    const before = await activeState();

    // ~1.2 MiB by its gzip size field (fits the 2 MiB disk), ~5 MiB once every file takes a page
    const big = await writeArchive(path.join(t.dir, 'big.tar.gz'), 'tar.gz', manySmallFiles(1200));
    const error = await installPackage({ pkgPath: big, ...opts }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(InferEntryError);
    expect(error).toMatchObject({ code: 'E_NO_SPACE', exitCode: 74 });
    // the kernel's ENOSPC, not the free-space check before extracting
    expect((error as Error).cause).toMatchObject({ code: 'ENOSPC' });
    expect((error as Error).message).toMatch(/^not enough free space in .*\.llama-cpp-releases to extract the package: needs [\d.]+ MiB, [\d.]+ (KiB|B) free$/);
    expect((error as InferEntryError).hint).toMatch(/free at least/);
    // the amount asked for is what the files really take (a page each), not the archive's ~1.2 MiB
    const needed = Number(/needs ([\d.]+) MiB/.exec((error as Error).message)![1]);
    expect(needed).toBeGreaterThanOrEqual(4);
    expect(needed).toBeLessThan(12);
    expect(await activeState()).toEqual(before);
    expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging-'))).toEqual([]);
  });

  it('a filesystem out of inodes is exit 74 from the CLI, says so instead of contradicting itself about bytes, and keeps the old install', async () => {
    // bytes are plentiful (more than the 64 MiB reserve), files are not
    unmount = await mountTmpfs(t.root, 'size=80m,nr_inodes=64');
    const good = await writeArchive(path.join(t.dir, 'good.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const first = await cli(['install', '--pkg', good], t.env);
    expect(first.code, first.stderr).toBe(0);
    const before = await activeState();

    const big = await writeArchive(path.join(t.dir, 'big.tar.gz'), 'tar.gz', manySmallFiles(80));
    const { code, stderr } = await cli(['install', '--pkg', big], t.env);
    expect(code, stderr).toBe(74);
    const lastLine = stderr.trim().split('\n').pop()!;
    expect(lastLine).toMatch(/^infer-entry install: no space left in .*\.llama-cpp-releases to extract the package: the filesystem has no free inodes left \([\d.]+ MiB of space and \d+ inodes free\) — .*df -i.* \[E_NO_SPACE\]$/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(await activeState()).toEqual(before);
    expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging-'))).toEqual([]);
  });

  it('whichever step the filesystem fills up in (cache, staging, extraction, marker, links, activation), the error is exit 74, never a crash, and the old install stays', async () => {
    unmount = await mountTmpfs(t.root, 'size=80m');
    const opts = { paths: t.paths, log: silentLogger(), env: t.env };
    await installPackage({ pkgPath: await writeArchive(path.join(t.dir, 'good.tar.gz'), 'tar.gz', layoutEntries('documented')), ...opts });
    const before = await activeState();
    const next = await writeArchive(path.join(t.dir, 'next.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ seed: 'next' })));
    const steps = new Set<string>();
    let installed = false;
    // give the next install one more free inode each round, until it succeeds (bounded)
    for (let spare = 0; spare < 40 && !installed; spare++) {
      const st = await statfs(t.root);
      execFileSync('mount', ['-o', `remount,nr_inodes=${st.files - st.ffree + spare}`, t.root]);
      const error = await installPackage({ pkgPath: next, ...opts }).then(() => null, (e: unknown) => e);
      if (error === null) {
        installed = true;
        break;
      }
      expect(error, `with ${spare} spare inode(s)`).toBeInstanceOf(InferEntryError);
      expect(error, `with ${spare} spare inode(s)`).toMatchObject({ code: 'E_NO_SPACE', exitCode: 74 });
      steps.add(/to (.*?):/.exec((error as Error).message)![1]!);
      expect(await activeState()).toEqual(before);
    }
    expect(installed).toBe(true);
    // and the run that succeeded left nothing of the failed ones behind
    expect((await readdir(t.paths.cache)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging-') || n.includes('.tmp-'))).toEqual([]);
    expect((await readdir(t.root)).filter((n) => n.includes('.tmp-') || /\.lock\./.test(n))).toEqual([]);
    // the sweep really hit the steps after extraction too
    expect([...steps]).toEqual(expect.arrayContaining(['cache next.tar.gz', 'extract the package', 'finish the install']));
  });

  it('rollback on a filesystem without a free inode is exit 74 and leaves the active install as it was', async () => {
    unmount = await mountTmpfs(t.root, 'size=80m');
    const opts = { paths: t.paths, log: silentLogger(), env: t.env };
    await installPackage({ pkgPath: await writeArchive(path.join(t.dir, 'one.tar.gz'), 'tar.gz', layoutEntries('documented')), ...opts });
    await installPackage({ pkgPath: await writeArchive(path.join(t.dir, 'two.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ seed: 'two' }))), ...opts });
    const before = await activeState();
    // room for the lock and the new link, none for the record of the release it replaces
    const st = await statfs(t.root);
    execFileSync('mount', ['-o', `remount,nr_inodes=${st.files - st.ffree + 2}`, t.root]);
    const { code, stderr } = await cli(['rollback'], t.env);
    expect(code, stderr).toBe(74);
    expect(stderr.trim().split('\n').pop()).toMatch(/^infer-entry rollback: no space left in .* to switch the llama-cpp link: the filesystem has no free inodes left .*\[E_NO_SPACE\]$/);
    expect(await activeState()).toEqual(before);
  });
});
