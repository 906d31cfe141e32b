// The e2e setup itself on a machine that lacks build tools: the cold build fails at once naming the
// Debian packages to install, and a warm cache needs none of them.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { NODE_LLAMA_CPP, ensureLlamaServer } from './setup/build-llama-server.js';

describe('the llama-server build of the e2e setup', () => {
  const e2e = inject('e2e');
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infer-entry-e2e-build-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails before fetching anything when cmake, make or g++ is missing, naming the Debian packages', async () => {
    // A machine with node, npm and git only.
    const bin = join(dir, 'bin');
    await mkdir(bin);
    for (const tool of ['node', 'npm', 'git']) {
      const real = (process.env.PATH ?? '').split(':').map((d) => join(d, tool)).find((f) => existsSync(f));
      if (real) await symlink(real, join(bin, tool));
    }
    const cache = join(dir, 'cache');
    const lines: string[] = [];
    const build = ensureLlamaServer((l) => lines.push(l), { env: { PATH: bin, HOME: dir, INFER_ENTRY_E2E_CACHE: cache } });
    await expect(build).rejects.toThrow(/cmake, make, g\+\+ on PATH.*apt-get install -y cmake make g\+\+/);
    expect(lines, 'it started fetching the source').toEqual([]);
    expect(await readdir(cache)).toEqual([]);
  });

  it('a cached build made with other cmake flags is not reused: the setup builds again', async () => {
    const cache = join(dir, 'stale-cache');
    const stale = join(cache, `llama-server-${e2e.commit}`);
    await mkdir(join(stale, 'bin'), { recursive: true });
    await mkdir(join(stale, 'models'), { recursive: true });
    await writeFile(join(stale, 'bin', 'llama-server'), '');
    await writeFile(join(stale, 'models', 'ggml-vocab-llama-spm.gguf'), '');
    await writeFile(join(stale, 'build-info.json'), JSON.stringify({ commit: e2e.commit, release: e2e.release, flags: ['-DGGML_NATIVE=ON'] }));
    await writeFile(join(cache, `${NODE_LLAMA_CPP.replace('@', '-')}.json`), JSON.stringify({ commit: e2e.commit, release: e2e.release }));
    // No build tools: a rebuild shows as the preflight error, a reuse as a resolved promise.
    await expect(ensureLlamaServer(() => undefined, { env: { PATH: join(dir, 'nothing'), INFER_ENTRY_E2E_CACHE: cache } })).rejects.toThrow(/apt-get install -y git cmake make g\+\+/);
  });

  it('a warm cache is used without any build tool on PATH', async () => {
    const build = await ensureLlamaServer(() => undefined, { env: { PATH: join(dir, 'nothing'), INFER_ENTRY_E2E_CACHE: join(e2e.binDir, '..', '..') } });
    expect(build.commit).toBe(e2e.commit);
    expect(build.binDir).toBe(e2e.binDir);
  });
});
