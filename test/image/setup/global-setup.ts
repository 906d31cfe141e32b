/**
 * The image tier's setup, after the e2e tier's (which provides the real llama-server archive and the
 * tiny model): an engine confined to this run, the base images, and the image built twice from the
 * unchanged Dockerfile — as root (the default) and with `--build-arg RUN_AS=infer`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { need } from '../../fixtures/need-tool.js';
import { cacheRoot } from '../../e2e/setup/build-llama-server.js';
import { engine, writeEngineConfig } from '../support/engine.js';
import { buildImage, ensureBase, ensureNodeImage } from './build-image.js';

export interface ImageContext {
  /** CONTAINERS_CONF and CONTAINERS_STORAGE_CONF of this run's engine. */
  engineEnv: Record<string, string>;
  rootImage: string;
  nonRootImage: string;
  /** This run's temp dir (mounted files, compose copies live under it). */
  tmp: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    image: ImageContext;
  }
}

export const ROOT_IMAGE = 'localhost/infer-dev:image-tier';
export const NON_ROOT_IMAGE = 'localhost/infer-dev:image-tier-infer';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.getuid?.() !== 0) throw new Error('the image tier runs podman and buildah as root: run it as root (sudo npm run test:image)');
  for (const [tool, pkg] of [['podman', 'podman'], ['buildah', 'buildah'], ['runc', 'runc'], ['mmdebstrap', 'mmdebstrap'], ['podman-compose', 'podman-compose']] as const) need(tool, pkg);
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  const cache = join(cacheRoot(), 'image');
  const tmp = await mkdtemp(join(tmpdir(), 'infer-entry-image-'));
  try {
    const env = await writeEngineConfig({ cache, tmp });
    const e = engine(env);
    const log = (line: string): void => void process.stderr.write(`${line}\n`);
    const started = Date.now();
    await ensureBase(e, cache, log);
    await ensureNodeImage(e, cache, log);
    await buildImage(e, { repo, tag: ROOT_IMAGE, log });
    await buildImage(e, { repo, tag: NON_ROOT_IMAGE, buildArgs: { RUN_AS: 'infer' }, log });
    log(`[image setup] images ready in ${Math.round((Date.now() - started) / 1000)} s`);
    project.provide('image', {
      engineEnv: { CONTAINERS_CONF: env.CONTAINERS_CONF!, CONTAINERS_STORAGE_CONF: env.CONTAINERS_STORAGE_CONF! },
      rootImage: ROOT_IMAGE,
      nonRootImage: NON_ROOT_IMAGE,
      tmp,
    });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return async () => {
    await rm(tmp, { recursive: true, force: true });
  };
}
