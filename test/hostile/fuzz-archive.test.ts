/**
 * Property test of the installer: a good archive plus random entries (names
 * with `..`, absolute, over-long or repeated; any mode; links anywhere; FIFOs;
 * sizes) is either installed — every path inside the release, nothing group-
 * or world-writable, no setuid, every symlink resolving inside — or refused
 * with exit 65, the current install byte-for-byte as it was and nothing cached.
 * Seed fixed; see test/fixtures/fuzz.ts to run longer.
 */
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferEntryError } from '../../src/errors.js';
import { installPackage } from '../../src/installer/index.js';
import { silentLogger } from '../../src/log.js';
import { layoutEntries, writeArchive, type Entry, type Format } from '../fixtures/installer/archive-builder.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';
import { fuzzParams, fuzzTimeout } from '../fixtures/fuzz.js';

let t: TempRoot;
beforeAll(async () => {
  t = await tempRoot();
  const good = await writeArchive(path.join(t.dir, 'good.tar.gz'), 'tar.gz', layoutEntries('documented'));
  await installPackage({ pkgPath: good, paths: t.paths, log: silentLogger(), env: t.env });
});
afterAll(async () => {
  await t.cleanup();
});

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('bin', 'lib', 'a', 'llama-server', 'libllama.so.0', 'x.so') },
  { weight: 1, arbitrary: fc.constantFrom('..', '.', '', 'n'.repeat(300), 'é\u202e', 'C:') },
);
const entryPath = fc.tuple(fc.boolean().map((abs) => (abs ? '/' : '')), fc.array(segment, { minLength: 1, maxLength: 4 })).map(([lead, parts]) => lead + parts.join('/'));

const entry = (format: Format): fc.Arbitrary<Entry> =>
  fc.oneof(
    fc.record({ type: fc.constant('file' as const), path: entryPath, content: fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)), mode: fc.integer({ min: 0, max: 0o7777 }) }),
    fc.record({ type: fc.constant('dir' as const), path: entryPath, mode: fc.integer({ min: 0, max: 0o7777 }) }),
    fc.record({ type: fc.constant('symlink' as const), path: entryPath, target: entryPath }),
    ...(format === 'zip' ? [] : [fc.record({ type: fc.constant('hardlink' as const), path: entryPath, target: entryPath })]),
    fc.record({ type: fc.constant('fifo' as const), path: entryPath }),
    // a zip cannot say "file named x/" (a trailing slash makes a directory) nor hold an empty name
  ).filter((e) => format !== 'zip' || (e.path.replace(/\//g, '') !== '' && (e.type === 'dir' || !e.path.endsWith('/'))));

async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(path.join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    out.push(r);
    if ((await lstat(path.join(dir, r))).isDirectory()) out.push(...(await walk(dir, r)));
  }
  return out;
}

async function expectSafeTree(releaseDir: string): Promise<void> {
  const top = await realpath(releaseDir);
  for (const rel of await walk(releaseDir)) {
    const abs = path.join(releaseDir, rel);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) {
      const target = await readlink(abs);
      // the convenience links point at the shims directory by design
      if (target.startsWith(t.paths.shims)) continue;
      const resolved = await realpath(abs).catch(() => null);
      if (resolved) expect(resolved === top || resolved.startsWith(`${top}/`), `${rel} -> ${target}`).toBe(true);
      continue;
    }
    expect(st.mode & 0o7022, `${rel} mode ${(st.mode & 0o7777).toString(8)}`).toBe(0);
  }
}

describe('random archive entries: installed safely or refused with 65, the install intact', () => {
  for (const format of ['tar', 'zip'] as Format[]) {
    it(format, async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(entry(format), { minLength: 1, maxLength: 5 }), fc.boolean(), async (extra, first) => {
          const entries = first ? [...extra, ...layoutEntries('documented')] : [...layoutEntries('documented'), ...extra];
          const before = await snapshot(t.root);
          const cacheBefore = (await readdir(t.paths.cache)).sort();
          const pkg = await writeArchive(path.join(t.dir, `fuzz-${n++}.${format === 'zip' ? 'zip' : 'tar'}`), format, entries);
          const outcome = await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env, force: true, smokeTimeoutMs: 5000 }).then(
            (o) => o,
            (e: unknown) => e,
          );
          if (outcome instanceof Error) {
            expect(outcome, String(outcome.stack)).toBeInstanceOf(InferEntryError);
            expect((outcome as InferEntryError).exitCode, (outcome as InferEntryError).message).toBe(65);
            expect(await snapshot(t.root)).toEqual(before);
            expect((await readdir(t.paths.cache)).sort()).toEqual(cacheBefore);
          } else {
            await expectSafeTree((outcome as { releaseDir: string }).releaseDir);
          }
        }),
        fuzzParams(25),
      );
    }, fuzzTimeout(25, 1500));
  }
});
