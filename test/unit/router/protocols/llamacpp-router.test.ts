// Clients written for llama-server's router mode, against the real router over fake llama-servers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './router-harness.js';

interface Listed {
  data: Array<{ id: string; aliases: string[]; status: { value: string } }>;
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness([
    { name: 'qwen', control: { aliases: ['gpt-4o'] }, env: { FAKE_LOAD_MS: '300' } },
    { name: 'gemma', control: { contextSize: 2048 } },
  ]);
}, 30_000);

afterAll(async () => {
  await h?.close();
});

const get = (path: string) => fetch(`${h.url}${path}`);
const post = (path: string, body: unknown) => fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const status = async (id: string) => ((await (await get('/models')).json()) as Listed).data.find((m) => m.id === id)?.status.value;

describe('llama.cpp router-mode endpoints', () => {
  it('GET /models lists ids, aliases and status, and starts nothing', async () => {
    const listed = (await (await get('/models')).json()) as Listed;
    expect(listed.data.map((m) => [m.id, m.aliases, m.status.value])).toEqual([
      ['qwen', ['gpt-4o'], 'unloaded'],
      ['gemma', [], 'unloaded'],
    ]);
    expect(h.spawns('qwen') + h.spawns('gemma')).toBe(0);
  });

  it('/props?model= for a stopped on-demand instance starts it once, however many arrive', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => get('/props?model=gpt-4o')));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ default_generation_settings: { n_ctx: number } }>;
    expect(bodies.every((b) => b.default_generation_settings.n_ctx === 4096)).toBe(true);
    expect(h.spawns('qwen')).toBe(1);
    expect(await status('qwen')).toBe('loaded');
  });

  it('/props?model=&autoload=false does not start a stopped instance', async () => {
    const r = await get('/props?model=gemma&autoload=false');
    expect(r.status).toBe(400);
    expect(h.spawns('gemma')).toBe(0);
  });

  it('POST /models/load and /models/unload start and stop through the supervisor', async () => {
    expect(await (await post('/models/load', { model: 'gemma' })).json()).toEqual({ success: true });
    expect(await status('gemma')).toBe('loaded');
    expect(h.supervisor.get('gemma')?.state).toBe('ready');
    expect(await (await post('/models/unload', { model: 'gemma' })).json()).toEqual({ success: true });
    await expect.poll(() => h.supervisor.get('gemma')?.state, { timeout: 5_000 }).toBe('stopped');
    expect(await status('gemma')).toBe('unloaded');
  });

  it("errors use llama-server's shape", async () => {
    const unknown = await post('/models/load', { model: 'nope' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 404, message: expect.stringContaining('nope'), type: 'not_found_error' } });
    const missing = await get('/props');
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    const bad = await fetch(`${h.url}/models/load`, { method: 'POST', body: '{"model":' });
    expect(bad.status).toBe(400);
    const download = await post('/models', { model: 'org/repo:Q4_K_M' });
    expect(download.status).toBe(501);
    expect(((await download.json()) as { error: { message: string } }).error.message).toMatch(/TOML/);
  });
});
