/**
 * The new tree is synced to disk before the link moves onto it (a power loss must not leave the
 * link naming files that never left the page cache). A `sync` on PATH that records what it was
 * asked and where the link pointed at that moment shows the order; one that fails (no -f) shows
 * the per-file fallback still installs.
 */
import { chmod, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layoutEntries, serverFiles, writeArchive } from '../fixtures/installer/archive-builder.js';
import { cli } from '../fixtures/installer/run-cli.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
beforeAll(async () => {
  t = await tempRoot();
});
afterAll(async () => {
  await t.cleanup();
});

async function fakeSync(dir: string, exitCode: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const record = path.join(dir, 'calls');
  const link = path.join(t.root, 'llama-cpp');
  await writeFile(path.join(dir, 'sync'), `#!/bin/sh\necho "$* link=$(readlink '${link}')" >> '${record}'\nexit ${exitCode}\n`);
  await chmod(path.join(dir, 'sync'), 0o755);
  return record;
}

describe('the new tree is made durable before activation', () => {
  it('syncs the tree it is about to activate while the link still names the old release', async () => {
    const bin = path.join(t.dir, 'bin-ok');
    const record = await fakeSync(bin, 0);
    const env = { ...t.env, PATH: `${bin}:${process.env.PATH}` };
    const a = await writeArchive(path.join(t.dir, 'a.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ version: 'AAAA', seed: 'a' })));
    const b = await writeArchive(path.join(t.dir, 'b.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ version: 'BBBB', seed: 'b' })));
    expect((await cli(['install', '--pkg', a], env)).code).toBe(0);
    const releaseA = await readlink(path.join(t.root, 'llama-cpp'));
    expect((await cli(['install', '--pkg', b], env)).code).toBe(0);
    const calls = (await readFile(record, 'utf8')).trim().split('\n');
    expect(calls).toHaveLength(2);
    // the first install had no link yet; the second synced while the link still named A
    expect(calls[0]).toMatch(/^-f \/\S+ link=$/);
    expect(calls[1]).toMatch(new RegExp(`^-f /\\S+ link=${releaseA.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    expect(await readlink(path.join(t.root, 'llama-cpp'))).not.toBe(releaseA);
  });

  it('installs with a sync that cannot sync a filesystem (fsyncs each file instead)', async () => {
    const bin = path.join(t.dir, 'bin-old');
    const record = await fakeSync(bin, 1);
    const env = { ...t.env, PATH: `${bin}:${process.env.PATH}` };
    const c = await writeArchive(path.join(t.dir, 'c.zip'), 'zip', layoutEntries('upstream-flat', serverFiles({ version: 'CCCC', seed: 'c' })));
    const result = await cli(['install', '--pkg', c], env);
    expect(result.code, result.stderr).toBe(0);
    expect((await readFile(record, 'utf8')).trim().split('\n')).toHaveLength(1);
    const marker = JSON.parse(await readFile(path.join(t.root, 'llama-cpp', '.installed-from.json'), 'utf8')) as { archive_name: string };
    expect(marker.archive_name).toBe('c.zip');
  });
});
