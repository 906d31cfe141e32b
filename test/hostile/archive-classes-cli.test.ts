/**
 * Archive classes that used to get through or fail the wrong way, through the
 * real CLI: unsafe modes are masked, over-long names and duplicate zip entries
 * are refused with 65 naming the entry, nothing is left in the cache and the
 * active install stays byte-for-byte as it was.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { layoutEntries, serverFiles, writeArchive, type Entry, type Format } from '../fixtures/installer/archive-builder.js';
import { cli } from '../fixtures/installer/run-cli.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

const errorLine = (stderr: string): string => {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
};

async function installGood(): Promise<Record<string, string>> {
  const good = await writeArchive(path.join(t.dir, 'good.tar.gz'), 'tar.gz', layoutEntries('documented'));
  const r = await cli(['install', '--pkg', good], t.env);
  expect(r.code, r.stderr).toBe(0);
  return snapshot(t.root);
}

describe('modes from the archive are masked: nothing group- or world-writable is installed', () => {
  for (const format of ['tar.gz', 'zip'] as Format[]) {
    it(`${format}: a 0666 library, a 0777 llama-server and a 0777 directory`, async () => {
      const files = serverFiles().map((e) => (e.type === 'file' ? ({ ...e, mode: e.path === 'llama-server' ? 0o777 : 0o666 }) : e));
      const entries: Entry[] = [{ type: 'dir', path: 'bin', mode: 0o777 }, ...files.map((e) => ({ ...e, path: `bin/${e.path}` }) as Entry), { type: 'dir', path: 'share', mode: 0o777 }];
      const pkg = await writeArchive(path.join(t.dir, `modes.${format}`), format, entries);
      const r = await cli(['install', '--pkg', pkg], t.env);
      expect(r.code, r.stderr).toBe(0);
      const tree = path.join(t.root, 'llama-cpp');
      expect((await lstat(path.join(tree, 'bin', 'libllama.so.0'))).mode & 0o777).toBe(0o644);
      expect((await lstat(path.join(tree, 'bin', 'llama-server'))).mode & 0o777).toBe(0o755);
      expect((await lstat(path.join(tree, 'bin'))).mode & 0o777).toBe(0o755);
      expect((await lstat(path.join(tree, 'share'))).mode & 0o777).toBe(0o755);
      // the idempotency check compares the recorded modes: the masked tree is intact
      const again = await cli(['install', '--pkg', pkg], t.env);
      expect(again.stdout).toMatch(/^already installed/);
    });
  }
});

describe('refused with 65 naming the entry, nothing cached, the install unchanged', () => {
  const long = `bin/${'n'.repeat(300)}.so`;
  const deep = `bin/${Array.from({ length: 40 }, () => 'd'.repeat(100)).join('/')}/x`;
  const cases: [string, Format, Entry[], string, RegExp][] = [
    ['tar.gz: a path component over 255 bytes', 'tar.gz', [...layoutEntries('documented'), { type: 'file', path: long, content: 'x' }], 'E_PKG_NAME_TOO_LONG', /"bin\/n{76}…n{57}\.so \(307 bytes\)" has a path component longer than 255 bytes/],
    ['zip: a path component over 255 bytes', 'zip', [...layoutEntries('documented'), { type: 'file', path: long, content: 'x' }], 'E_PKG_NAME_TOO_LONG', /"bin\/n+…n+\.so \(307 bytes\)"/],
    ['tar: a 4 KiB path', 'tar', [...layoutEntries('documented'), { type: 'file', path: deep, content: 'x' }], 'E_PKG_NAME_TOO_LONG', /is a path longer than 3072 bytes/],
    [
      'zip: two entries of the same name',
      'zip',
      [...layoutEntries('documented'), { type: 'file', path: 'bin/libllama.so.0', content: 'the other copy' }],
      'E_PKG_DUPLICATE_ENTRY',
      /"bin\/libllama\.so\.0" appears twice in the zip/,
    ],
    [
      'zip: the same name spelled two ways',
      'zip',
      [...layoutEntries('documented'), { type: 'file', path: './bin/llama-server', content: 'other' }],
      'E_PKG_DUPLICATE_ENTRY',
      /"\.\/bin\/llama-server" appears twice in the zip \(also as "bin\/llama-server"\)/,
    ],
  ];
  for (const [what, format, entries, code, message] of cases) {
    it(what, async () => {
      const before = await installGood();
      const cacheBefore = (await readdir(t.paths.cache)).sort();
      const pkg = await writeArchive(path.join(t.dir, `bad.${format}`), format, entries);
      const r = await cli(['install', '--pkg', pkg], t.env);
      expect(r.code, r.stderr).toBe(65);
      const line = errorLine(r.stderr);
      expect(line).toMatch(message);
      expect(line).toContain(`[${code}]`);
      expect(line.length).toBeLessThan(600);
      expect(await snapshot(t.root)).toEqual(before);
      expect((await readdir(t.paths.cache)).sort()).toEqual(cacheBefore);
    });
  }
});
