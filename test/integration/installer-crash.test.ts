/**
 * Crash safety: SIGKILL the installer (a real child process) at random
 * moments. After every kill the install must be the old or the new tree, whole;
 * the next run must complete and leave no leftovers.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPackage, readInstalledMarker } from '../../src/installer/index.js';
import { firstDifference } from '../../src/installer/manifest.js';
import { silentLogger } from '../../src/log.js';
import { layoutEntries, serverFiles, writeArchive } from '../fixtures/installer/archive-builder.js';
import { spawnCli } from '../fixtures/installer/run-cli.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

const RUNS = 25;
const IGNORED = new Set(['.installed-from.json', 'check-and-run-llama-cpp.sh', 'install-llama-cpp-pkg.sh', 'get-llama-cpp-pkg.sh']);

let t: TempRoot;
beforeAll(async () => {
  t = await tempRoot();
});
afterAll(async () => {
  await t.cleanup();
});

/** The tree's content without the per-install marker and links. */
async function content(dir: string): Promise<Record<string, string>> {
  const all = await snapshot(dir);
  return Object.fromEntries(Object.entries(all).filter(([k]) => !IGNORED.has(k)));
}

/** A deterministic PRNG so a failing run can be reproduced from the printed seed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SIGKILL at random moments', () => {
  it(`leaves the old or the new install whole, and the next run completes without leftovers (${RUNS} kills)`, async () => {
    const pkgs = {
      A: await writeArchive(path.join(t.dir, 'a.tar.gz'), 'tar.gz', layoutEntries('documented', serverFiles({ version: 'AAAA', libBytes: 3 << 20, seed: 'a' }))),
      B: await writeArchive(path.join(t.dir, 'b.zip'), 'zip', layoutEntries('upstream-flat', serverFiles({ version: 'BBBB', libBytes: 3 << 20, seed: 'b' }))),
    };
    const expected: Record<string, Record<string, string>> = {};
    const sha: Record<string, string> = {};
    for (const k of ['B', 'A'] as const) {
      const o = await installPackage({ pkgPath: pkgs[k], paths: t.paths, log: silentLogger(), env: t.env });
      expected[k] = await content(o.releaseDir);
      sha[k] = o.sha256;
    }

    // how long a full child run takes, to spread the kills over all of its steps
    const t0 = Date.now();
    const full = spawnCli(['install', '--pkg', pkgs.B], t.env);
    await new Promise((r) => full.once('exit', r));
    const span = Math.max(300, (Date.now() - t0) * 1.2);

    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const why = (i: number, ms: number) => `seed ${seed}, run ${i}, killed after ${ms} ms`;
    for (let i = 0; i < RUNS; i++) {
      const active = (await readInstalledMarker(t.paths))!.sha256 === sha.A ? 'A' : 'B';
      const next = active === 'A' ? 'B' : 'A';
      // every third run starts without a cached copy, so kills also land in the middle of the cache copy
      if (i % 3 === 0) await rm(path.join(t.paths.cache, path.basename(pkgs[next])), { force: true });
      const child = spawnCli(["install", "--pkg", pkgs[next]], t.env);
      const ms = Math.floor(random() * span);
      await new Promise((r) => setTimeout(r, ms));
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));

      // old or new, whole
      const marker = await readInstalledMarker(t.paths);
      expect(marker, why(i, ms)).not.toBeNull();
      const now = marker!.sha256 === sha.A ? 'A' : 'B';
      expect(await content(await realpath(t.paths.install)), why(i, ms)).toEqual(expected[now]);
      expect(await firstDifference(t.paths.install, marker!.manifest), why(i, ms)).toBeNull();

      // the next run completes the job and removes what the killed one left
      const done = await installPackage({ pkgPath: pkgs[next], paths: t.paths, log: silentLogger(), env: t.env });
      expect(await content(done.releaseDir), why(i, ms)).toEqual(expected[next]);
      expect((await readInstalledMarker(t.paths))!.sha256, why(i, ms)).toBe(sha[next]);
      expect((await readdir(t.root)).sort(), why(i, ms)).toEqual(['.llama-cpp-releases', 'cache', 'llama-cpp']);
      const releases = (await readdir(t.paths.releases)).sort();
      expect(releases.filter((n) => n.startsWith('.') && n !== '.previous'), why(i, ms)).toEqual([]);
      expect(releases.filter((n) => !n.startsWith('.')).length, why(i, ms)).toBeLessThanOrEqual(2);
      expect((await readdir(t.paths.cache)).sort(), why(i, ms)).toEqual(['.a.tar.gz.sha256.json', '.b.zip.sha256.json', 'a.tar.gz', 'b.zip']);
    }
  }, 180_000);
});

/** A separate process reading llama-cpp/bin/llama-server in a tight loop while installs swap releases. */
const READER = `
const fs = require('node:fs');
const file = process.argv[1];
const seen = {};
let errors = 0;
const stop = process.argv[2];
for (let i = 0; i % 200 !== 0 || !fs.existsSync(stop); i++) {
  try { const t = fs.readFileSync(file, 'utf8'); seen[t] = (seen[t] || 0) + 1; } catch (e) { errors++; seen['ERROR ' + e.code] = 1; }
}
process.stdout.write(JSON.stringify({ seen, errors }));
`;

describe('activation is atomic for readers', () => {
  it('a reader never finds llama-server missing or partial while releases are swapped', async () => {
    const pkgs = {
      A: await writeArchive(path.join(t.dir, 'ra.tar'), 'tar', layoutEntries('documented', serverFiles({ version: 'READER-A' }))),
      B: await writeArchive(path.join(t.dir, 'rb.tar'), 'tar', layoutEntries('documented', serverFiles({ version: 'READER-B' }))),
    };
    await installPackage({ pkgPath: pkgs.A, paths: t.paths, log: silentLogger(), env: t.env });
    const bodies = new Set([await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8')]);
    const reader = spawn(process.execPath, ['-e', READER, path.join(t.paths.install, 'bin', 'llama-server'), path.join(t.dir, 'stop-reader')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    reader.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const finished = new Promise((r) => reader.once('exit', r));
    for (let i = 0; i < 12; i++) {
      await installPackage({ pkgPath: i % 2 === 0 ? pkgs.B : pkgs.A, paths: t.paths, log: silentLogger(), env: t.env, force: true });
      bodies.add(await readFile(path.join(t.paths.install, 'bin', 'llama-server'), 'utf8'));
    }
    await writeFile(path.join(t.dir, 'stop-reader'), '');
    await finished;
    const result = JSON.parse(out) as { seen: Record<string, number>; errors: number };
    expect(result.errors).toBe(0);
    expect(bodies.size).toBe(2);
    for (const body of Object.keys(result.seen)) expect(bodies.has(body), body.slice(0, 80)).toBe(true);
  }, 60_000);
});

