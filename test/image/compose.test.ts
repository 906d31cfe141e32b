/**
 * dockers/compose/docker-compose.yml, unchanged, under podman-compose: the built image, the archive
 * and models in the directories the compose variables name, ports moved to free ones on 127.0.0.1.
 * (The GPU overlay needs NVIDIA GPUs and the app overlay an image from a registry: not run here.)
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { need } from '../fixtures/need-tool.js';
import { chat, completion, freePort } from '../e2e/support/llama.js';
import { waitFor } from '../e2e/support/processes.js';
import { COMPOSE_DIR, COMPOSE_MODELS, imageEngine } from './support/container.js';
import { CommandError, type Engine } from './support/engine.js';

const COMPOSE_FILE = join(COMPOSE_DIR, 'docker-compose.yml');
/** `container_name` in the compose file. */
const CONTAINER = 'infer-dev';

describe('dockers/compose/docker-compose.yml under podman-compose', () => {
  let e: Engine;
  let dir: string;
  let env: Record<string, string>;
  const compose = (args: string[]): Promise<string> => e.run(need('podman-compose', 'podman-compose'), ['-f', COMPOSE_FILE, ...args], { env, timeoutMs: 300_000 });
  const healthcheck = (): Promise<number> =>
    e.podman(['healthcheck', 'run', CONTAINER], { timeoutMs: 30_000 }).then(
      () => 0,
      (err: unknown) => (err instanceof CommandError && err.status !== null ? err.status : -1),
    );

  beforeAll(async () => {
    e = imageEngine();
    const { archives, model } = inject('e2e');
    dir = await mkdtemp(join(inject('image').tmp, 'compose-'));
    await mkdir(join(dir, 'pkg'));
    await mkdir(join(dir, 'models'));
    await copyFile(archives.documentedTarGz, join(dir, 'pkg/llama-cpp.tar.gz'));
    for (const m of COMPOSE_MODELS) await copyFile(model, join(dir, 'models', m));
    env = {
      INFER_DEV_IMAGE: inject('image').rootImage,
      LLAMA_CPP_PKG_DIR: join(dir, 'pkg'),
      MODELS_DIR: join(dir, 'models'),
      INFER_DEV_LLAMA3_PORT: String(await freePort()),
      INFER_DEV_QWEN_PORT: String(await freePort()),
    };
    await compose(['up', '-d']);
  });
  afterAll(async () => {
    if (e) await compose(['down', '-v', '-t', '15']).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('comes up healthy and serves both instances on the published ports', async () => {
    await waitFor('infer-dev healthy', async () => ((await healthcheck()) === 0 ? true : undefined), 180_000, 1_000);
    for (const port of [env.INFER_DEV_LLAMA3_PORT, env.INFER_DEV_QWEN_PORT]) {
      expect((await completion(Number(port))).tokens).toBeGreaterThan(0);
      expect(['stop', 'length']).toContain((await chat(Number(port))).finish);
    }
    const ports = await e.podman(['port', CONTAINER]);
    for (const line of ports.trim().split('\n')) expect(line).toMatch(/-> 127\.0\.0\.1:\d+$/);
  });

  it('stops with exit 0 within its stop_grace_period; down -v removes the container and the cache volume', async () => {
    await e.podman(['stop', '-t', '15', CONTAINER], { timeoutMs: 60_000 });
    expect(JSON.parse(await e.podman(['inspect', '--format', '{{json .State.ExitCode}}', CONTAINER]))).toBe(0);
    await compose(['down', '-v', '-t', '15']);
    const left = await e.podman(['ps', '-a', '--format', '{{.Names}}']);
    expect(left.split('\n')).not.toContain(CONTAINER);
    const volumes = await e.podman(['volume', 'ls', '--format', '{{.Name}}']);
    expect(volumes).not.toMatch(/llama-cache/);
  });
});
