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

  it('/soft/app/llama-cpp/check-and-run-llama-cpp.sh starts the enabled instances; check-and-run NAME starts a stopped one', async () => {
    const shim = await ctr.exec(['/soft/app/llama-cpp/check-and-run-llama-cpp.sh'], 120_000);
    expect(shim.code, shim.stdout + shim.stderr).toBe(0);
    let list = await ctr.status();
    expect(list.map((i) => [i.name, i.state]).sort()).toEqual([['llama3', 'ready'], ['qwen', 'ready']]);
    expect((await completion(ctr.ports.qwen)).tokens).toBeGreaterThan(0);
    expect((await ctr.healthcheck()).code).toBe(0);

    const stop = await ctr.exec(['infer-entry', 'stop', 'llama3']);
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    await waitFor('llama3 stopped', async () => ((await ctr.status()).find((i) => i.name === 'llama3' && i.state === 'stopped') ? true : undefined), 30_000, 500);
    const one = await ctr.exec(['check-and-run', 'llama3'], 120_000);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(one.stdout).toMatch(/llama3[\s\S]*ready/);
    list = await ctr.status();
    expect(list.map((i) => [i.name, i.state]).sort()).toEqual([['llama3', 'ready'], ['qwen', 'ready']]);
    expect((await completion(ctr.ports.llama3)).tokens).toBeGreaterThan(0);
  });
});
