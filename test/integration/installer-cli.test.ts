/** `infer-entry install` and `rollback` as a user runs them: exit codes, one-line errors, output, two installers at once. */
import { lstat, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { layoutEntries, serverFiles, writeArchive } from '../fixtures/installer/archive-builder.js';
import { cli } from '../fixtures/installer/run-cli.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

const oneLine = (stderr: string): string => {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
};

describe('infer-entry install', () => {
  it('installs from --pkg, prints one summary line, logs JSON lines with step=install; the second run is a no-op', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama-b1234-bin-ubuntu-x64.tar.gz'), 'tar.gz', layoutEntries('upstream-flat'));
    const first = await cli(['install', '--pkg', pkg], t.env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^installed: llama-b1234-bin-ubuntu-x64\.tar\.gz \(tar\.gz, sha256 [0-9a-f]{16}\) at .*llama-cpp -> .*\.llama-cpp-releases\/[0-9a-f]{16} — \d+ entries, \d+ bytes, \d+ ms\n$/);
    const logs = first.stderr.trim().split('\n').map((l) => JSON.parse(l) as { step: string; msg: string });
    expect(logs.length).toBeGreaterThan(4);
    expect(logs.every((l) => l.step === 'install')).toBe(true);
    expect(logs.map((l) => l.msg).join('\n')).toMatch(/checking package[\s\S]*copying[\s\S]*extract[\s\S]*llama-server --version[\s\S]*activated/);

    const second = await cli(['install', '--json'], { ...t.env, AUTO_INFER_LLAMA_CPP_PKG_PATH: pkg });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: 'already-installed', format: 'tar.gz', archiveName: path.basename(pkg) });
  });

  it('exit 66 for a missing archive, 64 without any archive, 65 for a hostile one — one line, no stack', async () => {
    const missing = await cli(['install', '--pkg', path.join(t.dir, 'nope.tar.gz')], t.env);
    expect(missing.code).toBe(66);
    expect(oneLine(missing.stderr)).toMatch(/nope\.tar\.gz does not exist — .*\[E_PKG_MISSING\]/);

    const none = await cli(['install'], { ...t.env, AUTO_INFER_LLAMA_CPP_PKG_PATH: '' });
    expect(none.code).toBe(64);
    expect(oneLine(none.stderr)).toContain('AUTO_INFER_LLAMA_CPP_PKG_PATH');

    const evil = await writeArchive(path.join(t.dir, 'evil.tar'), 'tar', [...layoutEntries('documented'), { type: 'file', path: '../../escape', content: 'x' }]);
    const hostile = await cli(['install', '--pkg', evil], t.env);
    expect(hostile.code).toBe(65);
    expect(oneLine(hostile.stderr)).toContain('"../../escape"');
    await expect(lstat(path.join(t.dir, 'escape'))).rejects.toThrow();
  });

  it('a warm run logs the same JSON lines without reading the archive, and still removes what a killed run left', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    // an archive changed less than 2 s before it is hashed is not trusted by its identity
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await cli(['install', '--pkg', pkg], t.env)).code).toBe(0);

    const warm = await cli(['install', '--pkg', pkg], t.env);
    expect(warm.code, warm.stderr).toBe(0);
    expect(warm.stdout).toMatch(/^already installed: llama\.tar\.gz /);
    const logs = warm.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.map((l) => [l.level, l.step, l.phase])).toEqual([
      [30, 'install', 'validate'],
      [30, 'install', 'validate'],
      [30, 'install', 'idempotency'],
    ]);
    expect(logs.every((l) => typeof l.time === 'string')).toBe(true);
    expect(String(logs[2]!.msg)).toContain('not re-read');

    const leftover = path.join(t.paths.releases, '.staging-999999-0badf00d');
    await mkdir(path.join(leftover, 'x'), { recursive: true });
    const again = await cli(['install', '--pkg', pkg, '--json'], t.env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'already-installed', archiveCheck: 'identity' });
    expect(again.stderr).toContain('leftover');
    expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging'))).toEqual([]);
  });

  it('two installers at once never interleave: both finish, the install is one of them, whole, with no leftovers', async () => {
    const a = await writeArchive(path.join(t.dir, 'a.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ version: 'AAAA', libBytes: 4 << 20 })));
    const b = await writeArchive(path.join(t.dir, 'b.zip'), 'zip', layoutEntries('wrapped', serverFiles({ version: 'BBBB', libBytes: 4 << 20 })));
    const [ra, rb] = await Promise.all([cli(['install', '--pkg', a], t.env), cli(['install', '--pkg', b], t.env)]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const server = await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8');
    const marker = JSON.parse(await readFile(path.join(t.paths.install, '.installed-from.json'), 'utf8')) as { archive_name: string };
    expect(server).toContain(marker.archive_name === 'a.tar.gz' ? 'AAAA' : 'BBBB');
    expect((await readdir(t.paths.releases)).filter((n) => n.startsWith('.staging'))).toEqual([]);
    expect((await readdir(t.root)).sort()).toEqual(['.llama-cpp-releases', 'cache', 'llama-cpp']);
  });
});

describe('infer-entry rollback', () => {
  it('switches to the previous install and says so; exit 66 when there is none', async () => {
    const pkg = path.join(t.dir, 'llama.tar.gz');
    await writeArchive(pkg, 'tar.gz', layoutEntries('documented', serverFiles({ version: 'first' })));
    expect((await cli(['install', '--pkg', pkg], t.env)).code).toBe(0);
    const none = await cli(['rollback'], t.env);
    expect(none.code).toBe(66);
    expect(oneLine(none.stderr)).toContain('[E_NO_PREVIOUS]');
    const firstTarget = await readlink(t.paths.install);

    await writeArchive(pkg, 'tar.gz', layoutEntries('documented', serverFiles({ version: 'second' })));
    expect((await cli(['install', '--pkg', pkg], t.env)).code).toBe(0);
    const back = await cli(['rollback'], t.env);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/^rolled back: .*llama-cpp -> .*, llama\.tar\.gz \(sha256 [0-9a-f]{16}\)/);
    expect(await readlink(t.paths.install)).toBe(firstTarget);
    expect(await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8')).toContain('first');
  });
});
