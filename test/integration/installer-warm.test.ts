/**
 * Warm boot: an archive whose identity (device, inode, size, mtime, ctime) is unchanged since it
 * was hashed is not read again, and anything that changes its bytes is caught by the ctime.
 */
import { execFileSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installOnBoot, installPackage } from '../../src/installer/index.js';
import { createLogger, type Logger } from '../../src/log.js';
import { archiveBuffer, layoutEntries, serverFiles, writeArchive } from '../fixtures/installer/archive-builder.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

function capture(): { log: Logger; msgs: () => string[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      out.push(String(c));
      cb();
    },
  });
  const msgs = () => out.join('').trim().split('\n').filter(Boolean).map((l) => String((JSON.parse(l) as { msg: string }).msg));
  return { log: createLogger({ destination: stream, pretty: false, base: { step: 'boot' } }), msgs };
}

/** racyMarginMs 0: the archive was written a moment ago, and the test must not wait the real 2 s margin. */
const install = (pkgPath: string, extra: { verify?: boolean; log?: Logger; racyMarginMs?: number } = {}) =>
  installPackage({ pkgPath, paths: t.paths, log: extra.log ?? capture().log, env: t.env, verify: extra.verify, racyMarginMs: extra.racyMarginMs ?? 0 });

describe('warm boot', () => {
  it('an unchanged archive is recognised by its identity, without reading it', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const first = await install(pkg);
    expect(first).toMatchObject({ status: 'installed', archiveCheck: 'sha256' });
    const { log, msgs } = capture();
    const second = await install(pkg, { log });
    expect(second).toMatchObject({ status: 'already-installed', archiveCheck: 'identity', sha256: first.sha256 });
    expect(msgs().some((m) => m.includes('not re-read'))).toBe(true);
    expect(msgs().some((m) => m.includes('hashing'))).toBe(false);
  });

  it('an archive whose bytes were swapped keeping its size and mtime is caught by the ctime and reinstalled', async () => {
    // same-length versions: the tar has exactly the same size
    const pkg = path.join(t.dir, 'llama.tar');
    await writeArchive(pkg, 'tar', layoutEntries('documented', serverFiles({ version: '1111 (aaaa)' })));
    const first = await install(pkg);
    const before = await stat(pkg, { bigint: true });
    // a reference keeps the exact (nanosecond) mtime, which utimes() cannot restore from a Date
    const reference = path.join(t.dir, 'mtime-reference');
    execFileSync('touch', ['-r', pkg, reference]);

    const swapped = await archiveBuffer('tar', layoutEntries('documented', serverFiles({ version: '9999 (zzzz)' })));
    expect(swapped.length).toBe(Number(before.size));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeFile(pkg, swapped); // in place: same inode
    execFileSync('touch', ['-r', reference, pkg]);
    const after = await stat(pkg, { bigint: true });
    expect([after.ino, after.size, after.mtimeNs]).toEqual([before.ino, before.size, before.mtimeNs]);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);

    const { log, msgs } = capture();
    const second = await install(pkg, { log });
    expect(second).toMatchObject({ status: 'installed', archiveCheck: 'sha256' });
    expect(second.sha256).not.toBe(first.sha256);
    expect(msgs()).toContain("reading llama.tar: the package's ctime changed since it was last hashed");
    expect(await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8')).toContain('9999 (zzzz)');
  });

  it('a replaced archive (a new file moved over it) is read again', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(pkg);
    await writeArchive(`${pkg}.new`, 'tar.gz', layoutEntries('documented', serverFiles({ version: '2222 (bbbb)' })));
    const { rename } = await import('node:fs/promises');
    await rename(`${pkg}.new`, pkg);
    const { log, msgs } = capture();
    expect(await install(pkg, { log })).toMatchObject({ status: 'installed', archiveCheck: 'sha256' });
    expect(msgs().some((m) => /the package's .*inode.* changed/.test(m))).toBe(true);
  });

  it('--verify hashes an unchanged archive all the same', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.zip'), 'zip', layoutEntries('documented'));
    await install(pkg);
    const { log, msgs } = capture();
    expect(await install(pkg, { verify: true, log })).toMatchObject({ status: 'already-installed', archiveCheck: 'sha256' });
    expect(msgs().some((m) => m.includes('verify: hashing the whole package'))).toBe(true);
  });

  it('an archive modified within the last 2 seconds is not trusted by identity: a write may still share its timestamp', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(pkg, { racyMarginMs: 2_000 });
    const { log, msgs } = capture();
    expect(await install(pkg, { log, racyMarginMs: 2_000 })).toMatchObject({ status: 'already-installed', archiveCheck: 'sha256' });
    expect(msgs().some((m) => m.includes('no settled identity'))).toBe(true);
  });

  it('a damaged tree is still repaired when the archive is unchanged', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    await install(pkg);
    const { rm } = await import('node:fs/promises');
    await rm(path.join(t.paths.install, 'bin', 'libllama.so.0'));
    const { log, msgs } = capture();
    expect(await install(pkg, { log })).toMatchObject({ status: 'installed' });
    expect(msgs().filter((m) => m.includes('installed tree is damaged'))).toHaveLength(1);
    await stat(path.join(t.paths.install, 'bin', 'libllama.so.0'));
  });

  it('boot: AUTO_INFER_LLAMA_CPP_PKG_VERIFY=1 hashes the archive that boot would otherwise trust', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    // the real margin: the archive's timestamps must be 2 s old before boot trusts them
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const env = { ...t.env, AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_PKG_PATH: pkg };
    await installOnBoot({ env, paths: t.paths, log: capture().log });
    expect(await installOnBoot({ env, paths: t.paths, log: capture().log })).toMatchObject({ status: 'already-installed', archiveCheck: 'identity' });
    expect(await installOnBoot({ env: { ...env, AUTO_INFER_LLAMA_CPP_PKG_VERIFY: 'true' }, paths: t.paths, log: capture().log })).toMatchObject({
      status: 'already-installed',
      archiveCheck: 'sha256',
    });
  });
});
