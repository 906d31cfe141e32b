import { createHash, randomBytes } from 'node:crypto';
import { appendFile, lstat, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installPackage, readInstalledMarker } from '../../src/installer/index.js';
import { silentLogger } from '../../src/log.js';
import { FORMATS, LAYOUTS, extensionOf, layoutEntries, writeArchive } from '../fixtures/installer/archive-builder.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

describe('every format × every accepted layout', () => {
  for (const format of FORMATS) {
    for (const layout of LAYOUTS) {
      it(`${format} / ${layout}: bin/llama-server with its libraries, symlinks and exec bits kept`, async () => {
        const pkg = await writeArchive(path.join(t.dir, `llama-${layout}${extensionOf(format)}`), format, layoutEntries(layout));
        const outcome = await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env });
        expect(outcome.status).toBe('installed');
        expect(outcome.format).toBe(format);

        const bin = path.join(t.paths.install, 'bin');
        expect((await stat(path.join(bin, 'llama-server'))).mode & 0o111).not.toBe(0);
        expect((await stat(path.join(bin, 'llama-cli'))).mode & 0o777).toBe(0o755);
        expect((await stat(path.join(bin, 'libllama.so.0'))).mode & 0o777).toBe(0o644);
        expect(await readlink(path.join(bin, 'libllama.so'))).toBe('libllama.so.0');
        expect(await readlink(path.join(bin, 'libggml-base.so'))).toBe('libggml-base.so.0');

        // the install path is a relative link into the releases directory
        expect((await lstat(t.paths.install)).isSymbolicLink()).toBe(true);
        expect(await readlink(t.paths.install)).toBe(path.join('.llama-cpp-releases', path.basename(outcome.releaseDir)));

        const marker = await readInstalledMarker(t.paths);
        expect(marker).toMatchObject({ archive_name: path.basename(pkg), sha256: outcome.sha256, format, entries: outcome.entries, bytes: outcome.bytes, source_path: pkg });
        expect(typeof marker!.installed_at_unix).toBe('number');
        expect(typeof marker!.duration_ms).toBe("number");
        expect(marker!.manifest.some((e) => e.path === 'bin/llama-server')).toBe(true);

        // the cached copy is kept and equals the source
        expect(await readFile(path.join(t.paths.cache, path.basename(pkg)))).toEqual(await readFile(pkg));

        // convenience links point at the shims, which the install wrote into a root that had none
        expect(await readlink(path.join(t.paths.install, 'get-llama-cpp-pkg.sh'))).toBe(path.join(t.paths.shims, 'install-llama-cpp-pkg.sh'));
        expect(await readlink(path.join(t.paths.install, 'check-and-run-llama-cpp.sh'))).toBe(path.join(t.paths.shims, 'check-and-run-llama-cpp.sh'));
        for (const link of ['get-llama-cpp-pkg.sh', 'check-and-run-llama-cpp.sh', 'install-llama-cpp-pkg.sh']) expect((await stat(path.join(t.paths.install, link))).isFile(), link).toBe(true);
      });
    }
  }

  it('never keeps the archive\'s owners and drops setuid/setgid (even when installing as root)', async () => {
    const entries = layoutEntries('documented').map((e) =>
      e.type === 'file' && e.path === 'bin/llama-server' ? { ...e, mode: 0o6755, uid: 4242 } : e.type === 'file' ? { ...e, uid: 4242 } : e,
    );
    const pkg = await writeArchive(path.join(t.dir, 'owned.tar'), 'tar', entries);
    await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env });
    const st = await stat(path.join(t.paths.install, 'bin', 'llama-server'));
    expect(st.mode & 0o7777).toBe(0o755);
    expect(st.uid).toBe(process.getuid!());
    expect(st.gid).toBe(process.getgid!());
    expect((await stat(path.join(t.paths.install, 'README.md'))).uid).toBe(process.getuid!());
  });

  it('a misnamed archive is installed by its content (a .zip that is really a tar.gz)', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.zip'), 'tar.gz', layoutEntries('documented'));
    const outcome = await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env });
    expect(outcome.format).toBe('tar.gz');
  });

  // ~15 MiB that does not compress: the copy's read buffers are reused several times over (tar.gz),
  // and the zip's small entries and headers straddle the 1 MiB blocks they are read through
  for (const format of FORMATS) {
    it(`${format}: an archive of several MiB with hundreds of files is installed byte for byte`, async () => {
      const files = Array.from({ length: 300 }, (_, i) => ({ path: `share/d${i % 7}/f${i}.bin`, content: randomBytes(40_000 + ((i * 7919) % 20_000)) }));
      files.push({ path: 'share/big.bin', content: randomBytes(1_500_000) });
      const entries = [...layoutEntries('documented'), ...files.map((f) => ({ type: 'file' as const, ...f }))];
      const pkg = await writeArchive(path.join(t.dir, `many${extensionOf(format)}`), format, entries);
      await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env });
      for (const f of files) expect((await readFile(path.join(t.paths.install, f.path))).equals(f.content), f.path).toBe(true);
    });
  }

  it('tar.gz with zero padding after the gzip stream, past the copy\'s next read: installed, padding and all hashed', async () => {
    // gzip and tar accept such files; the extraction ends at the archive's end while the copy still
    // has 9 MiB to read (it failed with an I/O error, exit 74, or hung before).
    const files = [{ path: 'share/x.bin', content: randomBytes(200_000) }];
    const pkg = await writeArchive(path.join(t.dir, 'padded.tar.gz'), 'tar.gz', [...layoutEntries('documented'), ...files.map((f) => ({ type: 'file' as const, ...f }))]);
    await appendFile(pkg, Buffer.alloc(9 * 1024 * 1024));
    await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env });
    expect((await readFile(path.join(t.paths.install, 'share/x.bin'))).equals(files[0]!.content)).toBe(true);
    expect((await readInstalledMarker(t.paths))?.sha256).toBe(createHash('sha256').update(await readFile(pkg)).digest('hex'));
  });
});
