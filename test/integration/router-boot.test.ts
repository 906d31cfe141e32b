/** The daemon runs the router from the config: on-demand instances wait for their first request. */
import fs from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { alive, baseEnv, cleanUpRoot, exitWithin, fakePids, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-router-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

describe('boot with [router]', () => {
  it('listens on the router port, starts on-demand instances on their first request, stops cleanly', async () => {
    const [pa, pb, pr] = [await freePort(), await freePort(), await freePort()];
    const file = await writeConfig(root, [
      { name: 'a', port: pa },
      { name: 'b', port: pb, control: ['on_demand = true', 'aliases = ["gpt-4o"]'], server: ['api_key = "instance-secret"'] },
    ]);
    await fs.appendFile(file, `\n[router]\nenable = true\nlisten = "127.0.0.1:${pr}"\n`);
    const daemon = startCli(['boot'], baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: 'true', AUTO_INFER_LLAMA_CPP_CONFIG: file, INFER_ENTRY_ROUTER_API_KEYS: 'router-key' }));
    running.push(daemon);
    const url = `http://127.0.0.1:${pr}`;
    await waitFor('the router port', () => fetch(`${url}/health`).then((r) => r.ok, () => false), 20_000);
    const auth = { authorization: 'Bearer router-key', 'content-type': 'application/json' };
    await waitFor('a ready', async () => {
      const list = (await (await fetch(`${url}/v1/models`, { headers: auth })).json()) as { data: Array<{ id: string; state: string }> };
      return list.data.find((m) => m.id === 'a')?.state === 'ready' ? list : undefined;
    });
    expect(await fakePids(root)).toHaveLength(1); // b is on demand
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: auth, body: JSON.stringify({ model: 'gpt-4o', messages: [] }) });
    expect(res.status).toBe(200); // the instance's own key was added upstream
    expect(await fakePids(root)).toHaveLength(2);
    expect(daemon.output()).not.toContain('instance-secret');
    expect(daemon.output()).not.toContain('router-key');
    daemon.child.kill('SIGTERM');
    expect(await exitWithin(daemon)).toEqual({ code: 0, signal: null });
    expect((await fakePids(root)).filter(alive)).toEqual([]);
  });
});
