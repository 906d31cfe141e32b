/**
 * Quick start 3 of the image README against the built image: without AUTO_INFER_LLAMA_CPP_ON_BOOT the
 * daemon installs but starts nothing; `podman exec … check-and-run` and the shim inside the install
 * start the instances by hand. (With the switch on, run.test.ts runs the same lines on a running set.)
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { completion } from '../e2e/support/llama.js';
import { waitFor } from '../e2e/support/processes.js';
import { Container, imageEngine } from './support/container.js';

describe('the image without AUTO_INFER_LLAMA_CPP_ON_BOOT: check-and-run by hand', () => {
  let ctr: Container;

  beforeAll(async () => {
    ctr = new Container(imageEngine(), { image: inject('image').rootImage, env: { AUTO_INFER_LLAMA_CPP_ON_BOOT: null } });
    await ctr.start();
    await waitFor('the daemon to answer status', async () => ((await ctr.exec(['infer-entry', 'status'])).code === 0 ? true : undefined), 120_000, 1_000);
  });
  afterAll(async () => {
    await ctr?.remove();
  });

  it('boot installs the archive and starts no instance', async () => {
    await waitFor('the install', async () => ((await ctr.exec(['test', '-x', '/soft/app/llama-cpp/bin/llama-server'])).code === 0 ? true : undefined), 120_000, 1_000);
    const list = await ctr.status();
    expect(list.filter((i) => i.state === 'ready')).toEqual([]);
  });

  it('/soft/app/llama-cpp/check-and-run-llama-cpp.sh llama3 starts that one, then check-and-run starts the rest', async () => {
    const one = await ctr.exec(['/soft/app/llama-cpp/check-and-run-llama-cpp.sh', 'llama3'], 120_000);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    let list = await ctr.status();
    expect(list.find((i) => i.name === 'llama3')?.state).toBe('ready');
    expect(list.find((i) => i.name === 'qwen')?.state).not.toBe('ready');

    const all = await ctr.exec(['check-and-run'], 120_000);
    expect(all.code, all.stdout + all.stderr).toBe(0);
    list = await ctr.status();
    expect(list.map((i) => [i.name, i.state]).sort()).toEqual([['llama3', 'ready'], ['qwen', 'ready']]);
    expect((await completion(ctr.ports.qwen)).tokens).toBeGreaterThan(0);
    expect((await ctr.healthcheck()).code).toBe(0);
  });
});
