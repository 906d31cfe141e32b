/**
 * The built image, run with podman as the image README's quick start 2 runs it (the compose config
 * and the real llama-server archive mounted, install + auto-serve on boot), three ways: as root (the
 * default USER), as the non-root user of `--build-arg RUN_AS=infer`, and as `--user infer` on the
 * default image — the two non-root ones with a named volume for the cache.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execLines } from '../dockers/rehearsal-image.js';
import { IMAGE_README } from '../dockers/support.js';
import { chat, completion } from '../e2e/support/llama.js';
import { isAlive, waitFor } from '../e2e/support/processes.js';
import { Container, imageEngine } from './support/container.js';

const cases: [string, { image: () => string; user?: string; uid: number; cacheVolume: boolean }][] = [
  ['as root (the default USER)', { image: () => inject('image').rootImage, uid: 0, cacheVolume: false }],
  ['built with --build-arg RUN_AS=infer', { image: () => inject('image').nonRootImage, uid: 10001, cacheVolume: true }],
  ['run with --user infer', { image: () => inject('image').rootImage, user: 'infer', uid: 10001, cacheVolume: true }],
];

describe.each(cases)('the image, run with podman %s', (_label, c) => {
  let ctr: Container;

  beforeAll(async () => {
    ctr = new Container(imageEngine(), { image: c.image(), user: c.user, cacheVolume: c.cacheVolume });
    await ctr.start();
  });
  afterAll(async () => {
    await ctr?.remove();
  });

  it('installs the mounted archive on boot, both instances reach ready, and the HEALTHCHECK turns healthy', async () => {
    await ctr.waitHealthy();
    const list = await ctr.status();
    expect(list.map((i) => [i.name, i.state]).sort()).toEqual([['llama3', 'ready'], ['qwen', 'ready']]);
    const logs = await ctr.logs();
    expect(logs.split('\n').filter((l) => l.includes('"step":"install"') && l.includes('activated /soft/app/llama-cpp'))).toHaveLength(1);
    const uids = await ctr.exec(['sh', '-c', 'stat -c %u /proc/1 /soft/app/llama-cpp/bin/llama-server']);
    expect(uids.stdout.trim().split('\n')).toEqual([String(c.uid), String(c.uid)]);
  });

  it('/completion and /v1/chat/completions answer through the published ports', async () => {
    for (const port of Object.values(ctr.ports)) {
      const done = await completion(port);
      expect(done.tokens).toBeGreaterThan(0);
      const answer = await chat(port);
      expect(['stop', 'length']).toContain(answer.finish);
    }
  });

  it('every `docker exec` line of the image README works with podman exec', async () => {
    const lines = execLines(readFileSync(IMAGE_README, 'utf8'));
    expect(lines.map((l) => l[0])).toEqual(expect.arrayContaining(['check-and-run', 'infer-entry', '/soft/app/llama-cpp/check-and-run-llama-cpp.sh']));
    for (const line of lines) {
      const r = await ctr.exec(line, 120_000);
      expect(r.code, `${line.join(' ')} →\n${r.stdout}${r.stderr}`).toBe(0);
      if (line[0] === 'check-and-run' || line[0]!.endsWith('check-and-run-llama-cpp.sh')) expect(r.stdout).toMatch(/llama3[\s\S]*ready/);
      if (line[1] === 'health') expect(r.stdout.trim()).toBe('ready');
    }
  }, 300_000);

  it('kill -9 of a llama-server inside the container: the daemon restarts it', async () => {
    await ctr.waitHealthy();
    const before = (await ctr.status()).find((i) => i.name === 'llama3')!;
    expect(before.pid).toBeGreaterThan(0);
    const killed = await ctr.exec(['sh', '-c', `kill -9 ${before.pid}`]);
    expect(killed.code).toBe(0);
    const after = await waitFor(
      'llama3 restarted and ready',
      async () => (await ctr.status()).find((i) => i.name === 'llama3' && i.state === 'ready' && i.pid !== before.pid),
      60_000,
      500,
    );
    expect(after.restarts).toBeGreaterThan(before.restarts);
    expect((await completion(ctr.ports.llama3)).tokens).toBeGreaterThan(0);
  });

  it('podman stop: exit 0 within the stop grace (10 s), no process left', async () => {
    const pids = await ctr.hostPids();
    expect(pids.length).toBeGreaterThanOrEqual(4); // tini, infer-entry, two llama-servers
    const started = Date.now();
    await ctr.e.podman(['stop', '-t', '10', ctr.name], { timeoutMs: 30_000 });
    const took = Date.now() - started;
    const state = await ctr.inspect<{ ExitCode: number; Status: string }>('.State');
    expect(state.Status).toBe('exited');
    expect(state.ExitCode).toBe(0);
    expect(took, 'stopped before podman had to SIGKILL').toBeLessThan(10_000);
    expect(pids.filter(isAlive)).toEqual([]);
  });
});
