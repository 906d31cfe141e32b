import { realpath, lstat, mkdir, readdir, readFile, readlink, rm, stat, truncate, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installPackage, readInstalledMarker, rollback } from '../../src/installer/index.js';
import { createLogger, silentLogger, type Logger } from "../../src/log.js";
import { layoutEntries, serverFiles, writeArchive } from '../fixtures/installer/archive-builder.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';
import { Writable } from 'node:stream';

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

function capturingLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger({ destination: stream, pretty: false, base: { step: 'boot' } }), lines: () => out.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const install = (pkgPath: string, extra: { force?: boolean; log?: Logger } = {}) =>
  installPackage({ pkgPath, paths: t.paths, log: extra.log ?? silentLogger(), env: t.env, force: extra.force });

async function releaseIdentity(): Promise<string> {
  const dir = path.join(t.paths.releases, path.basename(await readlink(t.paths.install)));
  const st = await stat(dir);
  return `${dir} ${st.ino} ${st.mtimeMs}`;
}

describe('idempotency', () => {
  it('a second run of the same archive extracts nothing (same release dir, inode and mtime) and says already installed', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const first = await install(pkg);
    const id = await releaseIdentity();
    const tree = await snapshot(t.paths.releases);
    const cacheStat = await stat(path.join(t.paths.cache, 'llama.tar.gz'));

    const { log, lines } = capturingLogger();
    const second = await install(pkg, { log });
    expect(second.status).toBe('already-installed');
    expect(second.sha256).toBe(first.sha256);
    expect(second.releaseDir).toBe(first.releaseDir);
    expect(await releaseIdentity()).toBe(id);
    expect(await snapshot(t.paths.releases)).toEqual(tree);
    // the cached copy was not rewritten either
    expect((await stat(path.join(t.paths.cache, 'llama.tar.gz'))).ino).toBe(cacheStat.ino);
    expect(lines().every((l) => l.step === 'install')).toBe(true);
    expect(lines().some((l) => String(l.msg).includes('already installed'))).toBe(true);
  });

  it('installing from the cached copy itself works and is a no-op when installed', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(pkg);
    const cached = path.join(t.paths.cache, 'llama.tar.gz');
    const again = await install(cached);
    expect(again.status).toBe('already-installed');
    expect(await readFile(cached)).toEqual(await readFile(pkg));
  });

  it('a refused archive that lives in the cache directory itself is not deleted (it is the user\'s only copy)', async () => {
    const good = await writeArchive(path.join(t.dir, 'good.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(good);
    const before = await snapshot(t.paths.releases);
    // mounted straight into the cache, e.g. -v ./llama.tar.gz:/soft/app/cache/llama.tar.gz
    await mkdir(t.paths.cache, { recursive: true });
    const inCache = await writeArchive(path.join(t.paths.cache, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ exitCode: 3 })));
    const bytes = await readFile(inCache);
    await expect(install(inCache)).rejects.toMatchObject({ code: 'E_PKG_SMOKE_TEST', exitCode: 65 });
    expect(await readFile(inCache)).toEqual(bytes);
    expect(await snapshot(t.paths.releases)).toEqual(before);
    // a refused copy the installer made itself is still dropped from the cache
    const copied = await writeArchive(path.join(t.dir, 'bad.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ exitCode: 3 })));
    const copiedBytes = await readFile(copied);
    await expect(install(copied)).rejects.toMatchObject({ code: 'E_PKG_SMOKE_TEST' });
    await expect(stat(path.join(t.paths.cache, 'bad.tar.gz'))).rejects.toMatchObject({ code: 'ENOENT' });
    // ... while the user's own archive outside the cache is left as it was
    expect(await readFile(copied)).toEqual(copiedBytes);
  });

  it('a changed archive with the same name reinstalls and replaces the cached copy; the old release is kept for rollback', async () => {
    const pkg = path.join(t.dir, 'llama.zip');
    await writeArchive(pkg, 'zip', layoutEntries('documented', serverFiles({ version: '1111 (aaaa)' })));
    const first = await install(pkg);
    await writeArchive(pkg, 'zip', layoutEntries('documented', serverFiles({ version: '2222 (bbbb)' })));
    const second = await install(pkg);
    expect(second.status).toBe('installed');
    expect(second.sha256).not.toBe(first.sha256);
    expect(await readFile(path.join(t.paths.cache, 'llama.zip'))).toEqual(await readFile(pkg));
    expect(await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8')).toContain('2222');
    expect((await readdir(t.paths.releases)).filter((n) => !n.startsWith('.')).sort()).toEqual(
      [path.basename(first.releaseDir), path.basename(second.releaseDir)].sort(),
    );
  });

  it('same name and same size but different bytes is not trusted by name: it reinstalls', async () => {
    const pkg = path.join(t.dir, 'llama.tar');
    await writeArchive(pkg, 'tar', layoutEntries('documented', serverFiles({ version: '1111 (aaaa)' })));
    const first = await install(pkg);
    await writeArchive(pkg, 'tar', layoutEntries('documented', serverFiles({ version: '9999 (zzzz)' })));
    const second = await install(pkg);
    expect(second.status).toBe('installed');
    expect(second.sha256).not.toBe(first.sha256);
    expect(await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8')).toContain('9999');
  });

  it('--force reinstalls the same archive into a fresh release', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tgz'), 'tar.gz', layoutEntries('wrapped'));
    const first = await install(pkg);
    const second = await install(pkg, { force: true });
    expect(second.status).toBe('installed');
    expect(second.releaseDir).not.toBe(first.releaseDir);
    expect(await readlink(t.paths.install)).toBe(path.join('.llama-cpp-releases', path.basename(second.releaseDir)));
  });

  const damages: [string, (bin: string) => Promise<void>, RegExp][] = [
    ['a deleted library', (bin) => rm(path.join(bin, 'libllama.so.0')), /bin\/libllama\.so\.0 is missing/],
    ['a truncated library', (bin) => truncate(path.join(bin, 'libggml-base.so.0'), 10), /bin\/libggml-base\.so\.0 has 10 bytes/],
    ['an overwritten llama-server of the same size', async (bin) => {
      const f = path.join(bin, 'llama-server');
      const body = await readFile(f, 'utf8');
      await new Promise((r) => setTimeout(r, 20));
      await writeFile(f, body.replace('version', 'VERSION'));
    }, /bin\/llama-server was modified/],
    ['a mode change', (bin) => chmod(path.join(bin, 'llama-server'), 0o644), /bin\/llama-server has mode 644/],
    ['a replaced symlink', async (bin) => {
      await rm(path.join(bin, 'libllama.so'));
      await writeFile(path.join(bin, 'libllama.so'), 'x');
    }, /bin\/libllama\.so is no longer a symlink/],
  ];
  for (const [what, damage, logged] of damages) {
    it(`${what} triggers a reinstall from the cache, logging the first difference`, async () => {
      const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
      await install(pkg);
      const good = await snapshot(await realpath(t.paths.install));
      await damage(path.join(t.paths.install, 'bin'));
      const { log, lines } = capturingLogger();
      const again = await install(pkg, { log });
      expect(again.status).toBe('installed');
      expect(lines().some((l) => l.level === 40 && logged.test(String(l.msg)))).toBe(true);
      const repaired = await snapshot(await realpath(t.paths.install));
      expect(repaired['bin/llama-server']).toBe(good['bin/llama-server']);
      expect(repaired['bin/libllama.so.0']).toBe(good['bin/libllama.so.0']);
      expect(repaired['bin/libllama.so']).toBe('link libllama.so.0');
    });
  }

  it('dangling convenience links do not make a tree look damaged', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(pkg);
    // the install wrote its shims; without them (an image that removed them) the links dangle
    await rm(t.paths.shims, { recursive: true, force: true });
    await expect(stat(path.join(t.paths.install, 'check-and-run-llama-cpp.sh'))).rejects.toThrow();
    expect((await install(pkg)).status).toBe('already-installed');
  });

  it('keeps only the active and the previous release', async () => {
    const pkg = path.join(t.dir, 'llama.tar.gz');
    const outcomes = [];
    for (const v of ['1', '2', '3']) {
      await writeArchive(pkg, 'tar.gz', layoutEntries('documented', serverFiles({ version: v })));
      outcomes.push(await install(pkg));
    }
    const names = (await readdir(t.paths.releases)).filter((n) => !n.startsWith('.')).sort();
    expect(names).toEqual([path.basename(outcomes[1]!.releaseDir), path.basename(outcomes[2]!.releaseDir)].sort());
  });
});

describe('rollback', () => {
  it('switches back to the previous release, and a second rollback switches forward', async () => {
    const pkg = path.join(t.dir, 'llama.tar.gz');
    await writeArchive(pkg, 'tar.gz', layoutEntries('documented', serverFiles({ version: 'old-1' })));
    const a = await install(pkg);
    await writeArchive(pkg, 'tar.gz', layoutEntries('documented', serverFiles({ version: 'new-2' })));
    const b = await install(pkg);
    const back = await rollback({ paths: t.paths, log: silentLogger() });
    expect(back.releaseDir).toBe(a.releaseDir);
    expect(back.from).toBe(path.basename(b.releaseDir));
    expect(await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8')).toContain('old-1');
    expect((await readInstalledMarker(t.paths))?.sha256).toBe(a.sha256);
    const forward = await rollback({ paths: t.paths, log: silentLogger() });
    expect(forward.releaseDir).toBe(b.releaseDir);
    // installing the now-active archive again is a no-op
    expect((await install(pkg)).status).toBe('already-installed');
  });

  it('with nothing to roll back to it fails with exit 66', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(pkg);
    await expect(rollback({ paths: t.paths, log: silentLogger() })).rejects.toMatchObject({ code: 'E_NO_PREVIOUS', exitCode: 66 });
  });
});

describe('a legacy install (a real directory at llama-cpp)', () => {
  it('is moved into the releases and kept as the rollback target', async () => {
    const legacyBin = path.join(t.paths.install, 'bin');
    await mkdir(legacyBin, { recursive: true });
    await writeFile(path.join(legacyBin, 'llama-server'), '#!/bin/sh\necho legacy\n', { mode: 0o755 });
    await writeFile(path.join(t.paths.install, '.installed-from.json'), JSON.stringify({ archive_name: 'old.tar.gz', sha256: 'f'.repeat(64), installed_at_unix: 1 }));
    const legacy = await snapshot(t.paths.install);

    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const outcome = await install(pkg);
    expect(outcome.status).toBe('installed');
    expect((await lstat(t.paths.install)).isSymbolicLink()).toBe(true);
    const moved = (await readdir(t.paths.releases)).filter((n) => n.startsWith('legacy-'));
    expect(moved).toHaveLength(1);
    expect(await snapshot(path.join(t.paths.releases, moved[0]!))).toEqual(legacy);

    const back = await rollback({ paths: t.paths, log: silentLogger() });
    expect(back.releaseDir).toBe(path.join(t.paths.releases, moved[0]!));
    expect(await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8')).toContain('legacy');
  });

  it('a migration killed between its two renames: the next install keeps the moved tree as the rollback target', async () => {
    const orphan = path.join(t.paths.releases, 'legacy-1700000000000');
    await mkdir(path.join(orphan, 'bin'), { recursive: true });
    await writeFile(path.join(orphan, 'bin', 'llama-server'), '#!/bin/sh\necho legacy\n', { mode: 0o755 });
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(pkg);
    expect(await readdir(t.paths.releases)).toContain('legacy-1700000000000');
    const back = await rollback({ paths: t.paths, log: silentLogger() });
    expect(back.releaseDir).toBe(orphan);
  });

  it('an old-format marker with the same sha256 is reinstalled (no manifest to prove the tree intact)', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const first = await install(pkg);
    const legacyBin = path.join(t.dir, 'legacy', 'bin');
    await mkdir(legacyBin, { recursive: true });
    await rm(t.paths.install);
    await mkdir(path.join(t.paths.install, 'bin'), { recursive: true });
    await writeFile(path.join(t.paths.install, '.installed-from.json'), JSON.stringify({ archive_name: 'llama.tar.gz', sha256: first.sha256, installed_at_unix: 1 }));
    expect((await install(pkg)).status).toBe('installed');
    expect((await lstat(t.paths.install)).isSymbolicLink()).toBe(true);
  });
});
