// The real `ollama` npm client against the router's Ollama routes.
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { registerLlamaCppRouterRoutes } from '../../../../src/router/protocols/llamacpp-router.js';
import { registerOllamaRoutes } from '../../../../src/router/protocols/ollama-routes.js';
import { RouteTable } from '../../../../src/router/routes.js';
import { interimCore, serve } from './interim-core.js';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.js';

let upstream: FakeUpstream;
let router: { url: string; close(): Promise<void> };
let core: ReturnType<typeof interimCore>;
let ollama: Ollama;
const warnings: string[] = [];
const TEXT = 'tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 ';

beforeAll(async () => {
  upstream = await startFakeUpstream({ FAKE_TOKEN_MS: '20' });
  core = interimCore(upstream.port, [{ id: 'qwen', instance: 'qwen', ids: ['qwen', 'gpt-4o'] }, { id: 'embed', instance: 'embed', ids: ['embed'] }]);
  const routes = new RouteTable();
  registerOllamaRoutes(routes, core, { maxBodyBytes: 1 << 20, log: { warn: (_f, m) => warnings.push(m), error: () => undefined } });
  registerLlamaCppRouterRoutes(routes, core, { maxBodyBytes: 1 << 20 });
  router = await serve(routes);
  ollama = new Ollama({ host: router.url });
});

afterAll(async () => {
  await router?.close();
  await upstream?.stop();
});

describe('ollama client', () => {
  it('list() shows every configured name; the server says it is Ollama', async () => {
    const { models } = await ollama.list();
    expect(models.map((m) => m.name)).toEqual(['qwen:latest', 'gpt-4o:latest', 'embed:latest']);
    expect(await (await fetch(router.url)).text()).toBe('Ollama is running');
    expect(((await (await fetch(`${router.url}/api/version`)).json()) as { version: string }).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('chat, not streamed, through an alias', async () => {
    const reply = await ollama.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: false, options: { temperature: 0, num_ctx: 65536 } });
    expect(reply.message).toMatchObject({ role: 'assistant', content: TEXT });
    expect(reply).toMatchObject({ model: 'gpt-4o', done: true, done_reason: 'stop', eval_count: 8, prompt_eval_count: 4 });
    expect((await upstream.stats()).paths.at(-1)).toBe('/v1/chat/completions');
    expect(warnings.some((w) => w.startsWith('num_ctx 65536 ignored'))).toBe(true);
  });

  it('chat, streamed: the pieces add up and the last one is done', async () => {
    const parts = [];
    for await (const part of await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], stream: true, keep_alive: '2m' })) parts.push(part);
    expect(parts.map((p) => p.message.content).join('')).toBe(TEXT);
    expect(parts.length).toBe(9);
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'stop' });
    expect(parts.slice(0, -1).every((p) => !p.done)).toBe(true);
    expect(core.keepAlive.at(-1)).toBe(120_000);
  });

  it('tool calls come back with object arguments, streamed and not', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const reply = await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'weather in Paris?' }], tools, stream: false });
    expect(reply.message.tool_calls?.[0]?.function).toMatchObject({ name: 'get_weather', arguments: { location: 'Paris' } });
    const parts = [];
    for await (const part of await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true })) parts.push(part);
    expect(parts.flatMap((p) => p.message.tool_calls ?? []).map((c) => c.function.arguments)).toEqual([{ location: 'Paris' }]);
  });

  it('format json reaches llama-server as response_format', async () => {
    const reply = await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'answer' }], format: 'json', stream: false });
    expect(JSON.parse(reply.message.content)).toEqual({ answer: 42 });
  });

  it('generate, streamed and not', async () => {
    const reply = await ollama.generate({ model: 'qwen:latest', prompt: 'Why?', system: 'Be brief.', stream: false });
    expect(reply).toMatchObject({ model: 'qwen:latest', response: TEXT, done: true });
    let text = '';
    for await (const part of await ollama.generate({ model: 'qwen', prompt: 'Why?', raw: true, stream: true })) text += part.response;
    expect(text).toBe(TEXT);
    expect((await upstream.stats()).paths.at(-1)).toBe('/v1/completions');
  });

  it('embed and the older embeddings', async () => {
    const out = await ollama.embed({ model: 'embed', input: ['a', 'bbb'] });
    expect(out.embeddings).toHaveLength(2);
    expect(out.embeddings[0]).toHaveLength(8);
    expect(out.embeddings[0]).not.toEqual(out.embeddings[1]);
    const legacy = await ollama.embeddings({ model: 'embed', prompt: 'bbb' });
    expect(legacy.embedding).toEqual(out.embeddings[1]);
  });

  it('ps and show', async () => {
    const running = await ollama.ps();
    expect(running.models.map((m) => m.name)).toContain('qwen:latest');
    const shown = await ollama.show({ model: 'qwen' });
    expect(shown.capabilities).toContain('completion');
  });

  it('errors: unknown model is 404 naming the configured ones; pull is refused naming the TOML file', async () => {
    await expect(ollama.chat({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status_code: 404, error: expect.stringContaining('qwen:latest') });
    await expect(ollama.pull({ model: 'llama3' })).rejects.toMatchObject({ status_code: 501, error: expect.stringContaining('TOML') });
    await expect(ollama.delete({ model: 'qwen' })).rejects.toMatchObject({ status_code: 501 });
    await expect(ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'x' }], options: { temperature: 'hot' as unknown as number } })).rejects.toMatchObject({ status_code: 400 });
  });

  it('a client that aborts mid-stream closes the upstream request', async () => {
    const before = (await upstream.stats()).aborted;
    const stream = await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], stream: true });
    for await (const _part of stream) {
      stream.abort();
      break;
    }
    await expect.poll(async () => (await upstream.stats()).aborted, { timeout: 2_000 }).toBe(before + 1);
  });

  it('empty chat loads; keep_alive 0 unloads', async () => {
    core.list[0]!.state = 'stopped';
    const loaded = await ollama.chat({ model: 'qwen', messages: [] });
    expect(loaded).toMatchObject({ done: true, done_reason: 'load' });
    expect(core.list[0]!.state).toBe('ready');
    const unloaded = await ollama.generate({ model: 'qwen', prompt: '', keep_alive: 0 });
    expect(unloaded).toMatchObject({ done: true, done_reason: 'unload' });
    expect(core.list[0]!.state).toBe('stopped');
  });
});

describe('llama.cpp router-mode endpoints', () => {
  it('/models, /models/load, /models/unload, /props?model=', async () => {
    const list = (await (await fetch(`${router.url}/models`)).json()) as { data: Array<{ id: string; status: { value: string } }> };
    expect(list.data.map((m) => m.id)).toEqual(['qwen', 'embed']);
    const load = await fetch(`${router.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'gpt-4o' }) });
    expect(await load.json()).toEqual({ success: true });
    expect(((await (await fetch(`${router.url}/models`)).json()) as typeof list).data[0]!.status.value).toBe('loaded');
    const props = await fetch(`${router.url}/props?model=qwen`);
    expect(((await props.json()) as { default_generation_settings: { n_ctx: number } }).default_generation_settings.n_ctx).toBe(4096);
    const unknown = await fetch(`${router.url}/props?model=nope`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: unknown }).error).toMatchObject({ code: 404, type: 'not_found_error' });
    const missing = await fetch(`${router.url}/props`);
    expect(missing.status).toBe(400);
    const unload = await fetch(`${router.url}/models/unload`, { method: 'POST', body: JSON.stringify({ model: 'qwen' }) });
    expect(await unload.json()).toEqual({ success: true });
    expect((await fetch(`${router.url}/models`, { method: 'DELETE' })).status).toBe(501);
  });
});
