// The `ollama` npm client's generate against the router over fake llama-servers: Ollama's `context`
// round trip, `suffix` (fill-in-the-middle through /infill), and the size/VRAM/load counters.
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, type Harness } from './router-harness.js';

const TEXT = 'tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 ';
/** The fake tokenizes one token per character (its code point). */
const decode = (tokens: number[]) => String.fromCodePoint(...tokens);
let h: Harness;
let ollama: Ollama;

beforeAll(async () => {
  h = await startHarness([
    { name: 'code', control: { onDemand: true, vramMb: 1 }, modelBytes: 3000, env: { FAKE_LOAD_MS: '300' } },
    { name: 'prose', control: { onDemand: false }, env: { FAKE_NO_FIM: '1' } },
  ]);
  ollama = new Ollama({ host: h.url });
}, 30_000);

afterAll(async () => {
  await h?.close();
});

describe('ollama generate: context, suffix, counters', () => {
  it('list() gives the model file size; a model without a local file says 0', async () => {
    const { models } = await ollama.list();
    expect(models.map((m) => [m.name, m.size])).toEqual([
      ['code:latest', 3000],
      ['prose:latest', 0],
    ]);
  });

  it('a request that started its model reports the load in load_duration; the next one does not', async () => {
    const cold = await ollama.generate({ model: 'code', prompt: 'Why?', stream: false });
    expect(cold.load_duration).toBeGreaterThanOrEqual(300e6);
    expect(cold.total_duration).toBeGreaterThanOrEqual(cold.load_duration);
    const warm = await ollama.generate({ model: 'code', prompt: 'Why?', stream: false });
    expect(warm.load_duration).toBe(0);
    expect(warm).toMatchObject({ prompt_eval_count: 4, eval_count: 8 });
  });

  it('ps: size is the file or the VRAM, whichever is more; size_vram the configured VRAM', async () => {
    const code = (await ollama.ps()).models.find((m) => m.name === 'code:latest');
    expect(code).toMatchObject({ size: 1024 * 1024, size_vram: 1024 * 1024 });
  });

  it('the answer carries context: the templated prompt and the response; sent back, it comes before the next turn', async () => {
    const first = await ollama.generate({ model: 'code', prompt: 'Why?', system: 'Be brief.', stream: false });
    expect(first.response).toBe(TEXT);
    expect(decode(first.context)).toBe(`<|system|>Be brief.\n<|user|>Why?\n<|assistant|>${TEXT}`);
    let last: { context?: number[]; done: boolean; response?: string } | undefined;
    let text = '';
    for await (const part of await ollama.generate({ model: 'code', prompt: 'And then?', context: first.context, stream: true })) {
      text += part.response;
      last = part;
    }
    expect(text).toBe(TEXT);
    expect(last?.done).toBe(true);
    expect(decode(last!.context!)).toBe(`<|system|>Be brief.\n<|user|>Why?\n<|assistant|>${TEXT}<|user|>And then?\n<|assistant|>${TEXT}`);
    // the received context was detokenized and sent with the templated turn as a raw completion
    expect((await h.fakeStats('code')).paths.slice(-4)).toEqual(['/detokenize', '/apply-template', '/v1/completions', '/tokenize']);
  });

  it('raw prompts get no context, as in Ollama', async () => {
    const raw = await ollama.generate({ model: 'code', prompt: '[INST] hi [/INST]', raw: true, stream: false });
    expect(raw.context).toBeUndefined();
  });

  it('suffix is fill-in-the-middle through /infill, streamed and not', async () => {
    const reply = await ollama.generate({ model: 'code', prompt: 'def f(a):', suffix: '  return b', options: { num_predict: 3 }, stream: false });
    // the fake answers the prefix and suffix lengths first, so this shows both arrived
    expect(reply).toMatchObject({ response: '<9|10>tok1 tok2 ', done: true, done_reason: 'length', eval_count: 3 });
    expect((await h.fakeStats('code')).paths.at(-1)).toBe('/infill');
    const parts = [];
    for await (const part of await ollama.generate({ model: 'code', prompt: 'x = ', suffix: '\n', stream: true })) parts.push(part);
    expect(parts.map((p) => p.response).join('')).toBe(`<4|1>${TEXT.slice('tok0 '.length)}`);
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'stop', eval_count: 8 });
  });

  it('a model without FIM tokens answers suffix with a 400 "does not support insert", streamed or not', async () => {
    for (const stream of [false, true]) {
      const request = ollama.generate({ model: 'prose', prompt: 'a', suffix: 'b', stream: stream as false });
      await expect(request).rejects.toMatchObject({ status_code: 400, error: expect.stringMatching(/^prose does not support insert: Infill is not supported by this model/) });
    }
  });
});

describe('the answer\'s context costs no queue turn unless asked', () => {
  let busy: Harness;
  beforeAll(async () => {
    // one request at a time, 8 tokens of 50 ms each: a second request is queued while the first runs
    busy = await startHarness([{ name: 'one', control: { onDemand: false, maxConcurrency: 1 }, env: { FAKE_TOKEN_MS: '50' } }]);
    await busy.router.core.load('one');
  }, 30_000);
  afterAll(async () => {
    await busy?.close();
  });

  const generate = (body: Record<string, unknown>) =>
    fetch(`${busy.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'one', stream: false, ...body }) }).then((r) => r.json() as Promise<{ context?: number[]; response: string }>);

  it('while another request waits for the model, the context is left out; a client that sent one still gets it', async () => {
    const started = (await busy.fakeStats('one')).requests;
    const first = generate({ prompt: 'Why?' });
    await expect.poll(async () => (await busy.fakeStats('one')).requests, { timeout: 5_000 }).toBe(started + 1);
    const waiting = generate({ prompt: 'And?', context: [] });
    const [answered, asked] = await Promise.all([first, waiting]);
    expect(answered.response).toBe(TEXT);
    expect(answered.context).toBeUndefined();
    expect(decode(asked.context!)).toBe(`<|user|>And?\n<|assistant|>${TEXT}`);
    // alone, the same request gets it
    expect((await generate({ prompt: 'Why?' })).context).toBeDefined();
  });
});

describe('a llama-server without /apply-template (a build from before late 2024)', () => {
  let old: Harness;
  let client: Ollama;
  beforeAll(async () => {
    old = await startHarness([{ name: 'old', control: { onDemand: false }, env: { FAKE_NO_APPLY_TEMPLATE: '1' } }]);
    client = new Ollama({ host: old.url });
  }, 30_000);
  afterAll(async () => {
    await old?.close();
  });

  it('answers a generate without its context, streamed or not', async () => {
    const whole = await client.generate({ model: 'old', prompt: 'Why?', stream: false });
    expect(whole.response).toBe(TEXT);
    expect(whole.context).toBeUndefined();
    let last: { done: boolean; context?: number[] } | undefined;
    for await (const part of await client.generate({ model: 'old', prompt: 'Why?', stream: true })) last = part;
    expect(last).toMatchObject({ done: true });
    expect(last!.context).toBeUndefined();
  });

  it('refuses a received context with 501 saying why, not a 404 the client would read as "no such model"', async () => {
    const refused = await client.generate({ model: 'old', prompt: 'And?', context: [72, 105], stream: false }).then(
      () => undefined,
      (error: { status_code?: number; error?: string }) => error,
    );
    expect(refused?.status_code).toBe(501);
    expect(refused?.error).toMatch(/no \/apply-template.*\/api\/chat/);
  });
});
