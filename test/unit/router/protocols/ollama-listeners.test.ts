// [router] ollama = false turns Ollama's API off; ollama_listen serves it on a second port.
import { afterEach, describe, expect, it } from 'vitest';

import { freePort } from '../../supervisor/fixtures.js';
import { startHarness, type Harness } from './router-harness.js';

let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('mounting', () => {
  it('ollama = false: no Ollama endpoints, the OpenAI and llama.cpp ones still answer', async () => {
    h = await startHarness([{ name: 'qwen' }], { ollama: false });
    expect((await fetch(`${h.url}/api/tags`)).status).toBe(404);
    expect((await fetch(`${h.url}/api/chat`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await fetch(`${h.url}/v1/models`)).status).toBe(200);
    expect((await fetch(`${h.url}/models`)).status).toBe(200);
  });

  it('ollama_listen: a second port answers the same API and routes through the same queue', async () => {
    const port = await freePort();
    h = await startHarness([{ name: 'qwen' }], { ollamaListen: { host: '127.0.0.1', port } });
    expect(h.ollamaUrl).toBe(`http://127.0.0.1:${port}`);
    expect(await (await fetch(h.ollamaUrl!)).text()).toBe('Ollama is running');
    const reply = (await (await fetch(`${h.ollamaUrl}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], stream: false }) })).json()) as { done: boolean };
    expect(reply.done).toBe(true);
    // the main port sees the same instance running: one process for both
    const ps = (await (await fetch(`${h.url}/api/ps`)).json()) as { models: Array<{ name: string }> };
    expect(ps.models.map((m) => m.name)).toEqual(['qwen:latest']);
    expect(h.spawns('qwen')).toBe(1);
  });
});
