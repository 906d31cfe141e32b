import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { packArchives, type E2eArchives } from '../support/pack-archives.js';
import { ensureTinyModel } from '../support/tiny-model.js';
import { ensureLlamaServer } from './build-llama-server.js';

export interface E2eContext {
  commit: string;
  release: string;
  /** The cached build's bin/ (llama-server + .so), for tests that run the server directly. */
  binDir: string;
  model: string;
  archives: E2eArchives;
}

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: E2eContext;
  }
}

/** Builds or reuses the cached llama-server, generates the tiny model and packs every archive layout. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const build = await ensureLlamaServer((line) => process.stderr.write(`${line}\n`)).catch((err: unknown) => {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`building llama-server for the e2e tests failed (needs git, cmake, make, g++ and the npm registry): ${why}`, { cause: err });
  });
  const model = await ensureTinyModel(build.dir, build.vocabPath);
  const work = await mkdtemp(join(tmpdir(), 'infer-entry-e2e-archives-'));
  const archives = await packArchives(build, work).catch(async (err: unknown) => {
    await rm(work, { recursive: true, force: true });
    throw err;
  });
  process.stderr.write(`[e2e setup] llama-server ${build.commit.slice(0, 12)}, model and archives ready in ${Date.now() - started} ms\n`);
  project.provide('e2e', { commit: build.commit, release: build.release, binDir: build.binDir, model, archives });
  return async () => {
    await rm(work, { recursive: true, force: true });
  };
}
