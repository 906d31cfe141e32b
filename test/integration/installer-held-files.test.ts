/**
 * Small tar files are created after their entry was read (held in memory until the reader waits
 * for its input), and zip's largest entries before the small ones. What the archive says must
 * still be what is installed — the last of two same-named entries, a hard link
 * to a held file, a symlink over one, more held bytes and files than the holding allows — and a
 * cancelled install must leave the active one as it was, with nothing behind in the releases.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installPackage, readInstalledMarker } from '../../src/installer/index.js';
import { silentLogger } from '../../src/log.js';
import { extensionOf, layoutEntries, writeArchive, type Entry, type Format } from '../fixtures/installer/archive-builder.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

/**
 * Past the limits of what is held at once (4,096 files, 16 MiB): 5,000 files of 1–6 KiB (tar), or,
 * quicker to build as a zip, 1,200 of 14–20 KiB.
 */
const smallFiles = (count = 5000, bytes = 1024): { path: string; content: Buffer }[] =>
  Array.from({ length: count }, (_, i) => ({ path: `share/d${i % 13}/f${i}.txt`, content: randomBytes(bytes + ((i * 7919) % 5120)) }));
const zipSmallFiles = (): { path: string; content: Buffer }[] => smallFiles(1200, 14 * 1024);

describe('held small files', () => {
  it('tar.gz: a repeated name, a hard link and a symlink over held files, and thousands of files: installed as the archive says', async () => {
    const files = smallFiles();
    const grown = randomBytes(200_000);
    const entries: Entry[] = [
      ...layoutEntries('documented'),
      { type: 'file', path: 'share/dup.txt', content: 'first' },
      { type: 'file', path: 'share/target.txt', content: 'linked' },
      { type: 'hardlink', path: 'share/hard.txt', target: 'share/target.txt' },
      { type: 'file', path: 'share/was-file', content: 'replaced by a link' },
      ...files.map((f) => ({ type: 'file' as const, ...f })),
      { type: 'file', path: 'share/grown.bin', content: grown },
      { type: 'symlink', path: 'share/was-file', target: 'target.txt' },
      { type: 'file', path: 'share/dup.txt', content: 'second', mode: 0o755 },
    ];
    const pkg = await writeArchive(path.join(t.dir, 'held.tar.gz'), 'tar.gz', entries);
    await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env });

    const at = (rel: string): string => path.join(t.paths.install, rel);
    for (const f of files) expect((await readFile(at(f.path))).equals(f.content), f.path).toBe(true);
    expect((await readFile(at('share/grown.bin'))).equals(grown)).toBe(true);
    expect(await readFile(at('share/dup.txt'), 'utf8')).toBe('second');
    expect((await lstat(at('share/dup.txt'))).mode & 0o777).toBe(0o755);
    expect(await readFile(at('share/hard.txt'), 'utf8')).toBe('linked');
    expect((await lstat(at('share/hard.txt'))).ino).toBe((await lstat(at('share/target.txt'))).ino);
    expect(await readlink(at('share/was-file'))).toBe('target.txt');
  });

  it('zip: more small files than are held at once, after the large ones started: installed byte for byte', async () => {
    const files = zipSmallFiles();
    const large = Array.from({ length: 4 }, (_, i) => ({ path: `bin/large${i}.so`, content: randomBytes(3_000_000) }));
    const entries: Entry[] = [...layoutEntries('documented'), ...[...large, ...files].map((f) => ({ type: 'file' as const, ...f }))];
    const pkg = await writeArchive(path.join(t.dir, 'held.zip'), 'zip', entries);
    await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env });
    for (const f of [...large, ...files]) expect((await readFile(path.join(t.paths.install, f.path))).equals(f.content), f.path).toBe(true);
  });

  // the cancel comes while the 40 MiB library is extracted: small files held (tar), or created while it inflates (zip)
  for (const format of ['tar.gz', 'zip'] as Format[]) {
    it(`${format}: cancelled during the extraction, the active install is untouched and nothing is left behind`, async () => {
      const old = await writeArchive(path.join(t.dir, `old${extensionOf(format)}`), format, layoutEntries('documented'));
      await installPackage({ pkgPath: old, paths: t.paths, log: silentLogger(), env: t.env });
      const before = await snapshot(t.paths.install);
      const marker = await readInstalledMarker(t.paths);

      const entries: Entry[] = [
        ...layoutEntries('documented'),
        ...(format === 'zip' ? zipSmallFiles() : smallFiles()).map((f) => ({ type: 'file' as const, ...f })),
        { type: 'file', path: 'bin/libggml-cuda.so.0', content: randomBytes(40 << 20) },
      ];
      const pkg = await writeArchive(path.join(t.dir, `new${extensionOf(format)}`), format, entries);
      const cancel = new AbortController();
      const install = installPackage({
        pkgPath: pkg,
        paths: t.paths,
        log: silentLogger(),
        env: t.env,
        signal: cancel.signal,
        onProgress: (phase, done, total) => {
          if (phase.includes('extract') && done > total / 2) cancel.abort();
        },
      });
      await expect(install).rejects.toThrow();
      expect(cancel.signal.aborted).toBe(true);

      expect(await snapshot(t.paths.install)).toEqual(before);
      expect(await readInstalledMarker(t.paths)).toEqual(marker);
      expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging'))).toEqual([]);
    });
  }
});
