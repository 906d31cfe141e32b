/**
 * Broken and hostile archives: each is refused with exit 65 and a message
 * naming the offending entry, the active install stays byte-for-byte as it
 * was, and nothing is left outside the (removed) staging directory.
 */
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InferEntryError } from '../../src/errors.js';
import { installPackage } from '../../src/installer/index.js';
import { silentLogger } from '../../src/log.js';
import { layoutEntries, serverFiles, tarBuffer, writeArchive, zipBuffer, type Entry, type Format } from '../fixtures/installer/archive-builder.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
let before: Record<string, string>;
let rootBefore: string[];

beforeEach(async () => {
  t = await tempRoot();
  const good = await writeArchive(path.join(t.dir, 'good.tar.gz'), 'tar.gz', layoutEntries('documented'));
  await installPackage({ pkgPath: good, paths: t.paths, log: silentLogger(), env: t.env });
  before = await snapshot(t.root);
  rootBefore = (await readdir(t.root)).sort();
});
afterEach(async () => {
  await t.cleanup();
});

const good = (): Entry[] => layoutEntries('documented');

async function expectRefused(file: string, code: string, mention: string | RegExp, opts: { env?: NodeJS.ProcessEnv; exitCode?: number } = {}): Promise<void> {
  const error = await installPackage({ pkgPath: file, paths: t.paths, log: silentLogger(), env: opts.env ?? t.env, smokeTimeoutMs: 5000 }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, 'install should have been refused').toBeInstanceOf(InferEntryError);
  const e = error as InferEntryError;
  expect(e.code).toBe(code);
  expect(e.exitCode).toBe(opts.exitCode ?? 65);
  if (typeof mention === 'string') expect(e.message).toContain(mention);
  else expect(e.message).toMatch(mention);
  expect(e.hint).toBeTruthy();
  // the install is untouched and nothing else appeared (a refused archive is not kept in the cache)
  expect(await snapshot(t.root)).toEqual(before);
  expect((await readdir(t.root)).sort()).toEqual(rootBefore);
}

async function archive(name: string, format: Format, entries: Entry[]): Promise<string> {
  return writeArchive(path.join(t.dir, name), format, entries);
}

const tarCases: [string, Entry[], string, string][] = [
  ['an absolute path', [...good(), { type: 'file', path: '/tmp/evil', content: 'x' }], 'E_PKG_ABSOLUTE_PATH', '/tmp/evil'],
  ['a .. path', [...good(), { type: 'file', path: 'bin/../../evil', content: 'x' }], 'E_PKG_PARENT_PATH', 'bin/../../evil'],
  ['a symlink to an absolute path', [...good(), { type: 'symlink', path: 'bin/libx.so', target: '/etc/passwd' }], 'E_PKG_LINK_OUTSIDE', 'bin/libx.so'],
  ['a symlink climbing out', [...good(), { type: 'symlink', path: 'bin/libx.so', target: '../../../etc/passwd' }], 'E_PKG_LINK_OUTSIDE', 'bin/libx.so'],
  [
    'a symlink escaping through another symlink',
    [...good(), { type: 'symlink', path: 'bin/up', target: '..' }, { type: 'symlink', path: 'esc', target: 'bin/up/..' }],
    'E_PKG_LINK_OUTSIDE',
    'esc',
  ],
  ['a hard link outside the tree', [...good(), { type: 'hardlink', path: 'bin/h', target: '../../etc/passwd' }], 'E_PKG_LINK_OUTSIDE', 'bin/h'],
  // was an I/O error (74, "check the filesystem"): the link removed its own target first
  ['a hard link to itself', [...good(), { type: 'hardlink', path: 'bin/llama-server', target: 'bin/llama-server' }], 'E_PKG_BAD_LINK', 'bin/llama-server'],
  [
    'a write through a symlink',
    [...good(), { type: 'symlink', path: 'out', target: 'bin' }, { type: 'file', path: 'out/llama-server', content: 'pwned' }],
    'E_PKG_THROUGH_LINK',
    'out/llama-server',
  ],
  ['a FIFO', [...good(), { type: 'fifo', path: 'bin/pipe' }], 'E_PKG_SPECIAL_FILE', 'bin/pipe'],
  ['a character device', [...good(), { type: 'chardev', path: 'bin/null' }], 'E_PKG_SPECIAL_FILE', 'bin/null'],
  ['no llama-server', [{ type: 'file', path: 'bin/llama-cli', content: 'x', mode: 0o755 }], 'E_PKG_NO_SERVER', 'llama-server'],
  [
    'a llama-server that is a directory',
    [{ type: 'dir', path: 'bin' }, { type: 'dir', path: 'bin/llama-server' }, { type: 'file', path: 'bin/llama-server/x', content: 'x' }],
    'E_PKG_SERVER_NOT_FILE',
    'bin/llama-server',
  ],
  ['a llama-server that is a dangling link', [{ type: 'dir', path: 'bin' }, { type: 'symlink', path: 'bin/llama-server', target: 'llama-server.real' }], 'E_PKG_SERVER_DANGLING', 'bin/llama-server'],
];

describe('hostile tar and tar.gz archives are refused, the install unchanged', () => {
  for (const format of ['tar', 'tar.gz'] as const) {
    for (const [what, entries, code, mention] of tarCases) {
      it(`${format}: ${what}`, async () => {
        await expectRefused(await archive(`bad.${format}`, format, entries), code, mention);
      });
    }
  }
});

describe('hostile zip archives are refused, the install unchanged', () => {
  const zipCases = tarCases.filter(([, entries]) => entries.every((e) => e.type !== 'hardlink' && e.type !== 'chardev'));
  for (const [what, entries, code, mention] of zipCases) {
    it(`zip: ${what}`, async () => {
      // yauzl reports unsafe names itself; we map them to one code
      const expected = code === 'E_PKG_ABSOLUTE_PATH' || code === 'E_PKG_PARENT_PATH' ? 'E_PKG_BAD_PATH' : code;
      await expectRefused(await archive('bad.zip', 'zip', entries), expected, mention);
    });
  }

  // a large entry is created before the small ones, except when the order decides the refusal
  it('zip: a large entry written through an earlier symlink', async () => {
    const entries: Entry[] = [...good(), { type: 'symlink', path: 'out', target: 'bin' }, { type: 'file', path: 'out/libbig.so', content: randomBytes(2 << 20) }];
    await expectRefused(await archive('bad.zip', 'zip', entries), 'E_PKG_THROUGH_LINK', 'out/libbig.so');
  });

  it('zip: a large entry under an earlier file of the same name as its directory', async () => {
    const entries: Entry[] = [...good(), { type: 'file', path: 'lib', content: 'x' }, { type: 'file', path: 'lib/libbig.so', content: randomBytes(2 << 20) }];
    await expectRefused(await archive('bad.zip', 'zip', entries), 'E_PKG_BAD_PATH', 'needs "lib" to be a directory');
  });

  it('zip: an encrypted entry', async () => {
    const file = path.join(t.dir, 'enc.zip');
    await writeFile(file, await zipBuffer(good(), { encrypt: ['bin/libllama.so.0'] }));
    await expectRefused(file, 'E_PKG_ENCRYPTED', 'bin/libllama.so.0');
  });
});

describe('broken archives', () => {
  it('a truncated tar.gz', async () => {
    const full = gzipSync(tarBuffer(good()));
    const file = path.join(t.dir, 'cut.tar.gz');
    await writeFile(file, full.subarray(0, Math.floor(full.length / 2)));
    await expectRefused(file, 'E_PKG_CORRUPT', 'cut.tar.gz');
  });

  it('a corrupt gzip stream', async () => {
    const full = gzipSync(tarBuffer(good()));
    for (let i = 20; i < 60; i++) full[i] = full[i]! ^ 0xff;
    const file = path.join(t.dir, 'corrupt.tar.gz');
    await writeFile(file, full);
    await expectRefused(file, 'E_PKG_CORRUPT', 'corrupt.tar.gz');
  });

  it('a truncated tar', async () => {
    const full = tarBuffer(good());
    const file = path.join(t.dir, 'cut.tar');
    await writeFile(file, full.subarray(0, 512 * 5 + 100));
    await expectRefused(file, 'E_PKG_CORRUPT', 'cut.tar');
  });

  it('a truncated zip', async () => {
    const full = await zipBuffer(good());
    const file = path.join(t.dir, 'cut.zip');
    await writeFile(file, full.subarray(0, Math.floor(full.length / 2)));
    await expectRefused(file, 'E_PKG_CORRUPT', 'cut.zip');
  });

  it('a zip whose compressed data is corrupt', async () => {
    const entries: Entry[] = [{ type: 'dir', path: 'bin' }, ...serverFiles().map((e) => ({ ...e, path: `bin/${e.path}` }) as Entry)];
    const full = await zipBuffer([...entries, { type: 'file', path: 'bin/big.txt', content: 'llama '.repeat(20000) }]);
    const at = full.indexOf(Buffer.from('bin/big.txt')) + 'bin/big.txt'.length + 10;
    for (let i = at; i < at + 64; i++) full[i] = full[i]! ^ 0x5a;
    const file = path.join(t.dir, 'corrupt.zip');
    await writeFile(file, full);
    await expectRefused(file, 'E_PKG_CORRUPT', /corrupt\.zip.*bin\/big\.txt/);
  });

  it('an empty tar, an empty zip, a zero-byte file', async () => {
    await expectRefused(await archive('empty.tar', 'tar', []), 'E_PKG_EMPTY_ARCHIVE', 'empty.tar');
    await expectRefused(await archive('empty.zip', 'zip', []), 'E_PKG_EMPTY_ARCHIVE', 'no entries');
    const zero = path.join(t.dir, 'zero.tar.gz');
    await writeFile(zero, '');
    await expectRefused(zero, 'E_PKG_EMPTY', 'zero.tar.gz');
  });

  it('an unknown format lists the supported ones', async () => {
    const file = path.join(t.dir, 'llama.rar');
    await writeFile(file, 'Rar!\x1a\x07\x00 definitely not a tar archive');
    await expectRefused(file, 'E_PKG_FORMAT', 'llama.rar');
  });
});

describe('decompression bombs and a full disk', () => {
  const bomb = (): Entry[] => [...good(), { type: 'file', path: 'bin/zeros', content: Buffer.alloc(3 * 1024 * 1024) }];

  for (const format of ['tar.gz', 'zip'] as const) {
    it(`${format}: stops beyond AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES`, async () => {
      const file = await archive(`bomb.${format}`, format, bomb());
      await expectRefused(file, 'E_PKG_TOO_BIG', /2\.0 MiB/, { env: { ...t.env, AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES: '2M' } });
    });
  }

  it('refuses to start extracting when the disk cannot hold the result plus the reserve (exit 74)', async () => {
    const file = await archive('big.tar.gz', 'tar.gz', bomb());
    const freeBytes = async (dir: string): Promise<number> => (dir === t.paths.releases ? 1024 * 1024 : 1e12);
    const error = (await installPackage({ pkgPath: file, paths: t.paths, log: silentLogger(), env: t.env, freeBytes }).catch((e: unknown) => e)) as InferEntryError;
    expect(error.code).toBe('E_NO_SPACE');
    expect(error.exitCode).toBe(74);
    expect(error.message).toMatch(/needs [\d.]+ MiB, 1\.0 MiB free/);
    expect(error.hint).toMatch(/free at least/);
    expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging'))).toEqual([]);
  });

  it('stops mid-extraction when free space drops below the reserve, and cleans up (exit 74)', async () => {
    const file = await archive('huge.tar.gz', 'tar.gz', [...good(), { type: 'file', path: 'bin/zeros', content: Buffer.alloc(48 * 1024 * 1024) }]);
    let calls = 0;
    const freeBytes = async (dir: string): Promise<number> => (dir === t.paths.releases && ++calls > 1 ? 10 * 1024 : 1e12);
    const active = await snapshot(t.paths.releases);
    const error = (await installPackage({ pkgPath: file, paths: t.paths, log: silentLogger(), env: t.env, freeBytes }).catch((e: unknown) => e)) as InferEntryError;
    expect(error.code).toBe("E_NO_SPACE");
    expect(error.exitCode).toBe(74);
    expect(await snapshot(t.paths.releases)).toEqual(active);
    expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging'))).toEqual([]);
  });
});
