import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';

import { waitUntil } from '../supervisor/fixtures.js';
import { chat, startStack, type Stack } from './http-harness.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('router streams', () => {
  it('pauses the upstream while a client reads slowly (bounded buffers)', async () => {
    // 4000 tokens of 10 KB = 40 MB the fake would write at once without backpressure.
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_TOKENS: '4000', FAKE_TOKEN_BYTES: '10000' } } }]);
    const res = await chat(stack.url, 'a', { stream: true });
    const reader = res.body!.getReader();
    await reader.read(); // one frame, then read nothing for a while
    // Wait until the fake stops producing (socket buffers full), then check it stalled well short of the end.
    let last = -1;
    let now = (await stack.stats('a')).tokens;
    for (let i = 0; i < 40 && now !== last; i++) {
      await sleep(500);
      last = now;
      now = (await stack.stats('a')).tokens;
    }
    expect(now).toBe(last); // stalled: the upstream is paused, not merely slow
    expect(now).toBeLessThan(2400); // 24 MB at most in kernel buffers and the router; the answer is 40 MB
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    expect(bytes).toBeGreaterThan(39_000_000);
    expect((await stack.stats('a')).tokens).toBe(4000 + 1); // + the warm-up token
  });

  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_TOKENS: '100', FAKE_TOKEN_MS: '300' } } }]);
    const ctl = new AbortController();
    const res = await chat(stack.url, 'a', { stream: true }, { signal: ctl.signal });
    const reader = res.body!.getReader();
    await reader.read();
    const abortedAt = performance.timeOrigin + performance.now();
    ctl.abort();
    await waitUntil(() => stack!.events('a').some((e) => e.ev === 'abort'), 5000, 'the fake saw the abort');
    const seen = stack.events('a').find((e) => e.ev === 'abort')!;
    // Seen before the fake produced its next token (one every 300 ms).
    expect(seen.t - abortedAt).toBeLessThan(300);
    expect((await stack.stats('a')).tokens).toBeLessThanOrEqual(3);
    expect(stack.router.core.resolve('a')!.inFlight).toBe(0);
  });

  it('drops a queued request whose client left, without forwarding it', async () => {
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_LOAD_MS: '800' } } }]);
    const ctl = new AbortController();
    const gone = chat(stack.url, 'a', {}, { signal: ctl.signal }).catch(() => 'aborted');
    await waitUntil(() => stack!.router.core.resolve('a')!.queued === 1, 5000, 'queued');
    ctl.abort();
    expect(await gone).toBe('aborted');
    await waitUntil(() => stack!.router.core.resolve('a')!.queued === 0, 5000, 'left the queue');
    expect((await chat(stack.url, 'a')).status).toBe(200);
    expect(stack.events('a').filter((e) => e.ev === 'request' && e.path === '/v1/chat/completions')).toHaveLength(1);
  });

  it('swaps a group member only after its running stream has ended', async () => {
    stack = await startStack(
      [
        { name: 'a', control: { group: 'big' }, fake: { env: { FAKE_TOKENS: '10', FAKE_TOKEN_MS: '100' } } },
        { name: 'b', control: { group: 'big' } },
      ],
      { groups: { big: { maxRunning: 1 } } },
    );
    const streaming = chat(stack.url, 'a', { stream: true }).then((r) => r.text());
    await waitUntil(() => stack!.events('a').some((e) => e.ev === 'request' && e.path === '/v1/chat/completions'), 5000, 'a streams');
    const b = await chat(stack.url, 'b');
    const text = await streaming;
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text.match(/tok\d/g)).toHaveLength(10);
    expect(b.status).toBe(200);
    const aDone = stack.events('a').find((e) => e.ev === 'done' && e.path === '/v1/chat/completions')!;
    const bFirst = stack.events('b').find((e) => e.ev === 'request')!;
    expect(bFirst.t).toBeGreaterThan(aDone.t);
    expect(stack.supervisor.get('a')!.state).toBe('stopped');
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toContain('infer_entry_router_evictions_total{model="a",reason="swap"} 1');
    expect(metrics).toMatch(/infer_entry_router_load_seconds_count\{model="b"\} 1/);
    expect(metrics).toMatch(/infer_entry_router_queue_wait_seconds_count\{model="b"\} 1/);
    expect(metrics).toContain('infer_entry_router_queue_depth{model="a"} 0');
  });

  it('ends a stream with one error frame and no [DONE] when the instance dies mid-stream', async () => {
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_TOKENS: '20', FAKE_TOKEN_MS: '20', FAKE_CRASH_MID_STREAM: '5' } } }]);
    const text = await (await chat(stack.url, 'a', { stream: true })).text();
    const frames = text.split('\n\n').filter(Boolean);
    expect(frames.at(-1)).toMatch(/^data: \{"error":\{"message":"The model stopped answering mid-stream/);
    expect(text).not.toContain('[DONE]');
    expect(frames.filter((f) => f.includes('"tok'))).toHaveLength(5);
  });

  it('passes on a chunk far larger than a read as it arrives, not once it is complete, and whole', async () => {
    stack = await startStack([{ name: 'a' }]);
    const size = 6 * 1024 * 1024;
    const first = 1024 * 1024;
    const res = await fetch(`${stack.url}/upstream/a/fake/one-chunk?bytes=${size}&first=${first}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const parts: Uint8Array[] = [];
    let got = 0;
    const readTo = async (want: number) => {
      while (got < want) {
        const { done, value } = await reader.read();
        expect(done).toBe(false);
        parts.push(value!);
        got += value!.length;
      }
      expect(got).toBe(want);
    };
    const release = () => fetch(`http://127.0.0.1:${stack!.ports.a}/fake/release`).then((r) => r.arrayBuffer());
    // The fake's first small chunk: the answer is being passed on (as received, from here on).
    await readTo(16);
    await release();
    // The big chunk's first part: the fake sends the rest only when released, so it is not complete yet.
    await readTo(16 + first);
    await release();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    const body = Buffer.concat(parts);
    expect(body.length).toBe(16 + size);
    const expected = Buffer.allocUnsafe(16 + size);
    for (let i = 0; i < expected.length; i++) expected[i] = i % 251;
    expect(body.equals(expected)).toBe(true);
  });

  it('ends a stream that dies inside a large event with the whole events before it and a parsable error frame', async () => {
    // An event of 200 KB (larger than a read, and than what any other chunk is held for) cut after 100 KB.
    stack = await startStack([{ name: 'a' }]);
    const res = await fetch(`${stack.url}/upstream/a/fake/one-chunk?sse=1&die=1&bytes=200000&first=100000`);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const release = () => fetch(`http://127.0.0.1:${stack!.ports.a}/fake/release`).then((r) => r.arrayBuffer());
    const reader = res.body!.getReader();
    const parts: Uint8Array[] = [];
    for (let got = 0; got < 16; ) {
      const { done, value } = await reader.read();
      expect(done).toBe(false);
      parts.push(value!);
      got += value!.length;
    }
    await release();
    await release();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    const events = Buffer.concat(parts).toString('latin1').split('\n\n').filter(Boolean);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[0]!.slice('data: '.length))).toEqual({ n: 0 });
    expect(JSON.parse(events[1]!.slice('data: '.length))).toMatchObject({ error: { code: 'upstream_error' } });
  });

  it('serves a request whose instance crashed while loading, after the restart', async () => {
    const once = `${tmpdir()}/router-crash-once-${process.pid}-${Date.now()}`;
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_LOAD_MS: '600', FAKE_CRASH_AFTER_MS: '200', FAKE_CRASH_ONCE_FILE: once } } }]);
    const res = await chat(stack.url, 'a');
    expect(res.status).toBe(200);
    expect(stack.spawns('a')).toBe(2);
    rmSync(once, { force: true });
  });

  it('answers 503 with the failure class when the instance cannot start, and never respawns it', async () => {
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_FAIL: 'bad-argument' } } }]);
    const res = await chat(stack.url, 'a');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'instance_failed', failure_class: 'bad-argument', type: 'server_error' } });
    const spawned = stack.spawns('a'); // the supervisor's own retries, before it gave up
    const again = await chat(stack.url, 'a');
    expect(again.status).toBe(503);
    await sleep(500);
    expect(stack.spawns('a')).toBe(spawned);
    expect(stack.supervisor.get('a')!.state).toBe('failed');
  });

  it('never hangs or answers 5xx for 200 requests timed around the TTL edge', async () => {
    stack = await startStack([{ name: 'a', control: { ttlMs: 150, maxConcurrency: 2 } }]);
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async (_, client) => {
        for (let i = 0; i < 20; i++) {
          await sleep(100 + ((client * 37 + i * 53) % 120)); // 100–220 ms: before, at and after the TTL
          const res = await chat(stack!.url, 'a', {}, { headers: { 'content-type': 'application/json', 'x-client-id': `c${client}` } });
          statuses.push(res.status);
          await res.arrayBuffer();
        }
      }),
    );
    expect(statuses).toHaveLength(200);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  }, 240_000); // every unload costs a process start: slow on a loaded machine

  it('works with the openai client: non-streamed, streamed, embeddings, tools', async () => {
    stack = await startStack([{ name: 'a', control: { aliases: ['gpt-4o'] } }]);
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const plain = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    expect(plain.choices[0]!.message.content).toBe('tok0 tok1 tok2 ');
    const stream = await client.chat.completions.create({ model: 'a', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 4 });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('tok0 tok1 tok2 tok3 ');
    const emb = await client.embeddings.create({ model: 'a', input: ['one', 'two'] });
    expect(emb.data).toHaveLength(2);
    const tool = await client.chat.completions.create({
      model: 'a',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }],
    });
    expect(tool.choices[0]!.message.tool_calls?.[0]).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    const missing = await client.chat.completions.create({ model: 'nope', messages: [] }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect((missing as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
  });
});
