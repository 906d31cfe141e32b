import net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { waitUntil } from '../supervisor/fixtures.js';
import { chat, startStack, type Stack } from './http-harness.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('router over HTTP', () => {
  it('answers 20 concurrent requests to a stopped model with one spawn', async () => {
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_LOAD_MS: '300' } } }]);
    expect(stack.spawns('a')).toBe(0);
    const answers = await Promise.all(Array.from({ length: 20 }, () => chat(stack!.url, 'a')));
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<{ choices: Array<{ message: { content: string } }> }>));
    expect(bodies.every((b) => b.choices[0]!.message.content.startsWith('tok0'))).toBe(true);
    expect(stack.spawns('a')).toBe(1);
    expect((await stack.stats('a')).maxConcurrent).toBeLessThanOrEqual(4); // max_concurrency
  });

  it('warms the model with a 1-token request before forwarding the first one', async () => {
    stack = await startStack([{ name: 'a' }]);
    expect((await chat(stack.url, 'a')).status).toBe(200);
    const requests = stack.events('a').filter((e) => e.ev === 'request');
    expect(requests.map((e) => [e.path, e.max_tokens])).toEqual([
      ['/v1/completions', 1],
      ['/v1/chat/completions', undefined],
    ]);
  });

  it('streams the same bytes as the instance gives directly', async () => {
    stack = await startStack([{ name: 'a', control: { onDemand: false }, fake: { env: { FAKE_DETERMINISTIC: '1', FAKE_TOKENS: '50' } } }]);
    await stack.supervisor.waitSettled(['a']);
    const body = { model: 'a', stream: true, messages: [{ role: 'user', content: 'hi' }] };
    const direct = await fetch(`http://127.0.0.1:${stack.ports.a}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body) });
    const routed = await chat(stack.url, 'a', { stream: true });
    expect(routed.headers.get('content-type')).toBe('text/event-stream');
    expect(routed.headers.get('x-accel-buffering')).toBe('no');
    const [d, r] = [await direct.text(), await routed.text()];
    expect(r).toBe(d);
    expect(r.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('streams the same bytes to an HTTP/1.0 client, which reads until the connection closes', async () => {
    stack = await startStack([{ name: 'a', control: { onDemand: false }, fake: { env: { FAKE_DETERMINISTIC: '1', FAKE_TOKENS: '50' } } }]);
    await stack.supervisor.waitSettled(['a']);
    const body = JSON.stringify({ model: 'a', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const direct = await (await fetch(`http://127.0.0.1:${stack.ports.a}/v1/chat/completions`, { method: 'POST', body })).text();
    const { port } = new URL(stack.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.write(`POST /v1/chat/completions HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => socket.once('close', resolve));
    const wire = Buffer.concat(chunks).toString('utf8');
    const split = wire.indexOf('\r\n\r\n');
    expect(wire.slice(0, split)).not.toMatch(/transfer-encoding/i);
    expect(wire.slice(split + 4)).toBe(direct);
  });

  it('answers unknown models 404, bad JSON 400, oversized bodies 413, in the OpenAI error shape', async () => {
    stack = await startStack([{ name: 'a' }], { maxBodyBytes: 1000 });
    const unknown = await chat(stack.url, 'nope');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { message: expect.stringContaining("'nope'"), type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
    const bad = await fetch(`${stack.url}/v1/chat/completions`, { method: 'POST', body: '{"model": "a",' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    const noModel = await fetch(`${stack.url}/v1/embeddings`, { method: 'POST', body: '{"input": "x"}' });
    expect(noModel.status).toBe(400);
    const big = await chat(stack.url, 'a', { padding: 'x'.repeat(2000) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    expect(stack.spawns('a')).toBe(0);
  });

  it('lists every id with its state on /v1/models and never starts anything', async () => {
    stack = await startStack([{ name: 'a', control: { aliases: ['gpt-4o'], serverAlias: 'qwen' } }, { name: 'b' }]);
    const list = (await (await fetch(`${stack.url}/v1/models`)).json()) as { data: Array<{ id: string; state: string; instance: string }> };
    expect(list.data.map((m) => [m.id, m.instance, m.state])).toEqual([
      ['a', 'a', 'stopped'],
      ['qwen', 'a', 'stopped'],
      ['gpt-4o', 'a', 'stopped'],
      ['b', 'b', 'stopped'],
    ]);
    const one = await fetch(`${stack.url}/v1/models/gpt-4o`);
    expect(((await one.json()) as { instance: string }).instance).toBe('a');
    expect((await fetch(`${stack.url}/v1/models/zzz`)).status).toBe(404);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stack.spawns('a') + stack.spawns('b')).toBe(0);
    // An alias routes to its instance.
    expect((await chat(stack.url, 'gpt-4o')).status).toBe(200);
    expect(stack.spawns('a')).toBe(1);
  });

  it('answers a full queue and a passed deadline with 503 and Retry-After', async () => {
    stack = await startStack([{ name: 'a', control: { maxQueue: 2 }, fake: { env: { FAKE_LOAD_MS: '3000' } } }], { queueTimeoutMs: 1500 });
    const first = [chat(stack.url, 'a'), chat(stack.url, 'a')];
    await waitUntil(() => stack!.router.core.resolve('a')!.queued === 2, 5000, 'two queued');
    const over = await chat(stack.url, 'a');
    expect(over.status).toBe(503);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('queue_full');
    const late = await Promise.all(first);
    expect(late.map((r) => r.status)).toEqual([503, 503]);
    expect(Number(late[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await late[0]!.json()) as { error: { code: string } }).error.code).toBe('queue_timeout');
  });

  it('routes /v1/rerank and any other POST under /v1/ by the model its body names', async () => {
    stack = await startStack([{ name: 'a' }, { name: 'b', control: { aliases: ['reranker'] } }]);
    const post = (p: string, body: unknown) => fetch(`${stack!.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const rerank = await post('/v1/rerank', { model: 'reranker', query: 'q', documents: ['x', 'y'] });
    expect(rerank.status).toBe(200);
    expect(((await rerank.json()) as { results: Array<{ index: number }> }).results.map((r) => r.index)).toEqual([0, 1]);
    expect((await stack.stats('b')).paths).toContain('/v1/rerank');
    // A path the router has no table entry for still goes to the named instance: llama-server's own 404 comes back.
    const other = await post('/v1/some/new/endpoint', { model: 'b', input: 'x' });
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({ error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
    expect(stack.spawns('b')).toBe(1);
    expect(stack.spawns('a')).toBe(0);
  });

  it('passes /upstream/{model}/... through, adding the instance key; the router key guards the port', async () => {
    stack = await startStack([{ name: 'a', control: { apiKey: 'instance-secret' }, fake: { env: { FAKE_LOAD_MS: '100' } } }], {}, ['router-key']);
    const denied = await fetch(`${stack.url}/upstream/a/props`);
    expect(denied.status).toBe(401);
    const auth = { authorization: 'Bearer router-key' };
    const props = await fetch(`${stack.url}/upstream/a/props`, { headers: auth });
    expect(props.status).toBe(200);
    expect(((await props.json()) as { default_generation_settings: { n_ctx: number } }).default_generation_settings.n_ctx).toBe(4096);
    expect((await fetch(`${stack.url}/upstream/zzz/props`, { headers: auth })).status).toBe(404);
    const info = (await (await fetch(`${stack.url}/v1/models/a`, { headers: auth })).json()) as { context_size: number };
    expect(info.context_size).toBe(4096); // learned from /props after the load
    expect((await fetch(`${stack.url}/health`)).status).toBe(200);
    // The rest of the path goes on as the client encoded it: a decoded %C4%8D%C4%8A would be CR LF
    // on the wire (a second request smuggled onto a pooled connection).
    const smuggle = await fetch(`${stack.url}/upstream/a/health%C4%A0HTTP/1.1%C4%8D%C4%8A%C4%8D%C4%8AGET%C4%A0/slots%C4%A0HTTP/1.1%C4%8D%C4%8Ax:%C4%A0`, { headers: auth });
    expect(smuggle.status).toBe(404);
    await smuggle.text();
    // Smuggled, the /slots answer would be waiting on the pooled connection for the next request.
    for (let i = 0; i < 3; i++) {
      const next = (await (await fetch(`${stack.url}/upstream/a/props`, { headers: auth })).json()) as object;
      expect(next).toHaveProperty('default_generation_settings');
    }
  });
});
