// The real `ollama` and `openai` npm clients against one router (core, queue, supervisor, fake
// llama-server processes), streamed and not.
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './router-harness.js';

const TEXT = 'tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 ';
let h: Harness;
let ollama: Ollama;
let openai: OpenAI;

beforeAll(async () => {
  h = await startHarness([
    { name: 'qwen', control: { aliases: ['gpt-4o'] }, env: { FAKE_TOKEN_MS: '20' } },
    { name: 'embed', control: { onDemand: false } },
    // long answers (200 tokens, 4 s), so a client's abort always lands mid-answer however loaded the machine
    { name: 'slow', control: { onDemand: false }, env: { FAKE_TOKEN_MS: '20', FAKE_TOKENS: '200' } },
  ]);
  ollama = new Ollama({ host: h.url });
  openai = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused' });
}, 30_000);

afterAll(async () => {
  await h?.close();
});

describe('ollama and openai clients on one router', () => {
  it('list() shows every configured name without starting anything; the server says it is Ollama', async () => {
    const { models } = await ollama.list();
    expect(models.map((m) => m.name)).toEqual(['qwen:latest', 'gpt-4o:latest', 'embed:latest', 'slow:latest']);
    expect(h.spawns('qwen')).toBe(0);
    expect(await (await fetch(h.url)).text()).toBe('Ollama is running');
    expect(((await (await fetch(`${h.url}/api/version`)).json()) as { version: string }).version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('chat, not streamed, through an alias, starts the on-demand instance', async () => {
    const reply = await ollama.chat({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: false, options: { temperature: 0, num_ctx: 65536 } });
    expect(reply.message).toMatchObject({ role: 'assistant', content: TEXT });
    expect(reply).toMatchObject({ model: 'gpt-4o', done: true, done_reason: 'stop', eval_count: 8, prompt_eval_count: 4 });
    expect(h.spawns('qwen')).toBe(1);
    expect((await h.fakeStats('qwen')).paths.at(-1)).toBe('/v1/chat/completions');
  });

  it('chat, streamed: the pieces add up and the last one is done', async () => {
    const parts = [];
    for await (const part of await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], stream: true })) parts.push(part);
    expect(parts.map((p) => p.message.content).join('')).toBe(TEXT);
    expect(parts.length).toBe(9);
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'stop' });
  });

  it('the openai client on the same router, streamed and not', async () => {
    const reply = await openai.chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }] });
    expect(reply.choices[0]!.message.content).toBe(TEXT);
    let text = '';
    for await (const chunk of await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true })) {
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    expect(text).toBe(TEXT);
    const vectors = await openai.embeddings.create({ model: 'embed', input: ['a', 'bbb'], encoding_format: 'float' });
    const viaOllama = await ollama.embed({ model: 'embed', input: ['a', 'bbb'] });
    expect(viaOllama.embeddings).toEqual(vectors.data.map((d) => d.embedding));
  });

  it('tool calls come back with object arguments, streamed and not', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }];
    const reply = await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'weather in Paris?' }], tools, stream: false });
    expect(reply.message.tool_calls?.[0]?.function).toMatchObject({ name: 'get_weather', arguments: { location: 'Paris' } });
    const parts = [];
    for await (const part of await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true })) parts.push(part);
    expect(parts.flatMap((p) => p.message.tool_calls ?? []).map((c) => c.function.arguments)).toEqual([{ location: 'Paris' }]);
  });

  it('format json and a JSON schema reach llama-server as response_format', async () => {
    const reply = await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'answer' }], format: 'json', stream: false });
    expect(JSON.parse(reply.message.content)).toEqual({ answer: 42 });
    let streamed = '';
    const schema = { type: 'object', properties: { answer: { type: 'integer' } } };
    for await (const part of await ollama.generate({ model: 'qwen', prompt: 'answer', format: schema, stream: true })) streamed += part.response;
    expect(JSON.parse(streamed)).toEqual({ answer: 42 });
  });

  it('generate, streamed and not; raw goes to /v1/completions', async () => {
    const reply = await ollama.generate({ model: 'qwen:latest', prompt: 'Why?', system: 'Be brief.', stream: false });
    expect(reply).toMatchObject({ model: 'qwen:latest', response: TEXT, done: true });
    let text = '';
    for await (const part of await ollama.generate({ model: 'qwen', prompt: 'Why?', raw: true, stream: true })) text += part.response;
    expect(text).toBe(TEXT);
    expect((await h.fakeStats('qwen')).paths.at(-1)).toBe('/v1/completions');
  });

  it('embed and the older embeddings', async () => {
    const out = await ollama.embed({ model: 'embed', input: ['a', 'bbb'] });
    expect(out.embeddings).toHaveLength(2);
    expect(out.embeddings[0]).toHaveLength(8);
    expect(out.embeddings[0]).not.toEqual(out.embeddings[1]);
    expect((await ollama.embeddings({ model: 'embed', prompt: 'bbb' })).embedding).toEqual(out.embeddings[1]);
  });

  it('ps lists what runs; show reports the context and what /props said', async () => {
    const running = await ollama.ps();
    expect(running.models.map((m) => m.name).sort()).toEqual(['embed:latest', 'qwen:latest', 'slow:latest']);
    const shown = await ollama.show({ model: 'gpt-4o' });
    expect(shown.capabilities).toContain('completion');
    expect(Object.entries(shown.model_info).find(([k]) => k.endsWith('.context_length'))?.[1]).toBe(4096);
  });

  it('errors in Ollama shape: unknown model 404 naming the configured ones; pull refused naming the TOML file', async () => {
    await expect(ollama.chat({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status_code: 404, error: expect.stringContaining('qwen:latest') });
    await expect(ollama.pull({ model: 'llama3' })).rejects.toMatchObject({ status_code: 501, error: expect.stringContaining('TOML') });
    await expect(ollama.delete({ model: 'qwen' })).rejects.toMatchObject({ status_code: 501 });
    await expect(ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'x' }], options: { temperature: 'hot' as unknown as number } })).rejects.toMatchObject({ status_code: 400 });
  });

  it('a client that aborts mid-stream aborts the upstream request', async () => {
    const before = (await h.fakeStats('slow')).aborted;
    const stream = await ollama.chat({ model: 'slow', messages: [{ role: 'user', content: 'hi' }], stream: true });
    for await (const _part of stream) {
      stream.abort();
      break;
    }
    await expect.poll(async () => (await h.fakeStats('slow')).aborted, { timeout: 2_000 }).toBe(before + 1);
  });

  it('an instance that dies mid-stream ends the NDJSON stream with an error line, never a false done', async () => {
    const own = await startHarness([{ name: 'crashy', control: { onDemand: false }, env: { FAKE_TOKEN_MS: '20', FAKE_TOKENS: '20', FAKE_CRASH_MID_STREAM: '5' } }]);
    const body = JSON.stringify({ model: 'crashy', messages: [{ role: 'user', content: 'hi' }] });
    const text = await (await fetch(`${own.url}/api/chat`, { method: 'POST', body })).text().finally(() => own.close());
    const lines = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { message?: { content: string }; done?: boolean; error?: string });
    expect(lines.filter((l) => l.message?.content.startsWith('tok'))).toHaveLength(5);
    expect(lines.at(-1)?.error).toMatch(/closed the stream before the answer was complete/);
    expect(lines.some((l) => l.done === true)).toBe(false);
  });

  it('a client that gives up on a non-streamed answer aborts the upstream request too', async () => {
    const before = await h.fakeStats('slow');
    const body = JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'hi' }], stream: false });
    const client = new AbortController();
    const answer = fetch(`${h.url}/api/chat`, { method: 'POST', body, signal: client.signal });
    await expect.poll(async () => (await h.fakeStats('slow')).requests, { timeout: 5_000 }).toBe(before.requests + 1);
    client.abort();
    await expect(answer).rejects.toThrow();
    await expect.poll(async () => (await h.fakeStats('slow')).aborted, { timeout: 2_000 }).toBe(before.aborted + 1);
  });

  it('keep_alive 0 with nothing to generate unloads; an empty chat loads again', async () => {
    const unloaded = await ollama.generate({ model: 'qwen', prompt: '', keep_alive: 0 });
    expect(unloaded).toMatchObject({ done: true, done_reason: 'unload' });
    await expect.poll(() => h.supervisor.get('qwen')?.state, { timeout: 5_000 }).toBe('stopped');
    expect((await ollama.ps()).models.map((m) => m.name)).toEqual(['embed:latest', 'slow:latest']);
    const loaded = await ollama.chat({ model: 'qwen', messages: [] });
    expect(loaded).toMatchObject({ done: true, done_reason: 'load' });
    expect(h.supervisor.get('qwen')?.state).toBe('ready');
    expect(h.spawns('qwen')).toBe(2);
  });

  it('keep_alive 0 on a chat unloads the model once the answer is complete', async () => {
    const reply = await ollama.chat({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], keep_alive: 0, stream: false });
    expect(reply.message.content).toBe(TEXT);
    await expect.poll(() => h.supervisor.get('qwen')?.state, { timeout: 5_000 }).toBe('stopped');
  });
});
