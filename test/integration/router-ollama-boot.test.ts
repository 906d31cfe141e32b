/** The daemon serves Ollama's API from the config: on the router port and on ollama_listen, same queue. */
import fs from 'node:fs/promises';
import { Ollama } from 'ollama';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { alive, baseEnv, cleanUpRoot, exitWithin, fakePids, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-router-ollama-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

describe('boot with [router] and ollama_listen', () => {
  it('an Ollama client on the second port starts an on-demand instance once, with the router key', async () => {
    const [pa, pr, po] = [await freePort(), await freePort(), await freePort()];
    const file = await writeConfig(root, [{ name: 'a', port: pa, control: ['on_demand = true', 'aliases = ["llama3"]'] }]);
    await fs.appendFile(file, `\n[router]\nenable = true\nlisten = "127.0.0.1:${pr}"\nollama_listen = "127.0.0.1:${po}"\n`);
    const daemon = startCli(['boot'], baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: 'true', AUTO_INFER_LLAMA_CPP_CONFIG: file, INFER_ENTRY_ROUTER_API_KEYS: 'router-key' }));
    running.push(daemon);
    await waitFor('the Ollama port', () => fetch(`http://127.0.0.1:${po}/health`).then((r) => r.ok, () => false), 20_000);
    const headers = { authorization: 'Bearer router-key' };
    const ollama = new Ollama({ host: `http://127.0.0.1:${po}`, headers });
    expect((await ollama.list()).models.map((m) => m.name)).toEqual(['a:latest', 'llama3:latest']);
    expect(await fakePids(root)).toHaveLength(0);
    await expect(new Ollama({ host: `http://127.0.0.1:${po}` }).list()).rejects.toMatchObject({ status_code: 401 });
    const reply = await ollama.chat({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }], stream: false });
    expect(reply.done).toBe(true);
    expect(reply.message.content.length).toBeGreaterThan(0);
    // the router port serves the same API and sees the same running instance
    const ps = (await (await fetch(`http://127.0.0.1:${pr}/api/ps`, { headers })).json()) as { models: Array<{ name: string }> };
    expect(ps.models.map((m) => m.name)).toEqual(['a:latest']);
    expect(await fakePids(root)).toHaveLength(1);
    daemon.child.kill('SIGTERM');
    expect(await exitWithin(daemon)).toEqual({ code: 0, signal: null });
    expect((await fakePids(root)).filter(alive)).toEqual([]);
    expect(daemon.output()).not.toContain('router-key');
  });
});
