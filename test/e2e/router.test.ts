// The router in front of the real llama-server: a max_running = 1 group swapped by the openai client,
// a cancelled stream frees its slot, a TTL unload leaves no process.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { freePorts } from './support/llama.js';
import { isAlive, llamaServersUnder, waitFor } from './support/processes.js';
import { Scenario } from './support/scenario.js';

interface ModelEntry {
  id: string;
  state: string;
}

describe('router with the real llama-server', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let url: string;
  let client: OpenAI;
  const pids: Record<string, number> = {};

  const models = async (): Promise<ModelEntry[]> => ((await (await fetch(`${url}/v1/models`)).json()) as { data: ModelEntry[] }).data;
  const stateOf = async (id: string) => (await models()).find((m) => m.id === id)?.state;

  beforeAll(async () => {
    s = await Scenario.create('router');
    const [chatPort, embPort, ttlPort, routerPort] = await freePorts(4);
    url = `http://127.0.0.1:${routerPort}`;
    await writeFile(
      s.configFile,
      [
        '[master]',
        'enable = true',
        '[router]',
        'enable = true',
        `listen = "127.0.0.1:${routerPort}"`,
        '[router.groups.g]',
        'max_running = 1',
        '[instance.control]',
        `log_dir = ${JSON.stringify(join(s.dir, 'logs'))}`,
        'on_demand = true',
        '[instance.server]',
        'host = "127.0.0.1"',
        `model = ${JSON.stringify(e2e.model)}`,
        'ctx_size = 512',
        'threads = 1',
        'parallel = 1',
        '[instance.chat.control]',
        'group = "g"',
        'aliases = ["gpt-4o-mini"]',
        '[instance.chat.server]',
        `port = ${chatPort}`,
        '[instance.emb.control]',
        'group = "g"',
        '[instance.emb.server]',
        `port = ${embPort}`,
        'embeddings = true',
        'pooling = "mean"', // the tiny model has no pooling type of its own
        '[instance.ttl.control]',
        'ttl = "1s"',
        '[instance.ttl.server]',
        `port = ${ttlPort}`,
        '',
      ].join('\n'),
    );
    s.boot(s.bootEnv(e2e.archives.documentedTarGz));
    await waitFor('the router port', async () => ((await fetch(`${url}/health`).then((r) => r.ok, () => false)) ? true : undefined), 120_000, 200);
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('starts nothing at boot: every instance is on demand', async () => {
    expect((await models()).map((m) => [m.id, m.state])).toEqual([
      ['chat', 'stopped'],
      ['gpt-4o-mini', 'stopped'],
      ['emb', 'stopped'],
      ['ttl', 'stopped'],
    ]);
    expect(llamaServersUnder(s.dir)).toEqual([]);
  });

  it('answers a non-streamed chat through an alias, starting the instance', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, temperature: 0 });
    expect(typeof r.choices[0]!.message.content).toBe('string');
    expect(await stateOf('chat')).toBe('ready');
    pids.chat = llamaServersUnder(s.dir)[0]!;
    expect(llamaServersUnder(s.dir)).toHaveLength(1);
  });

  it('streams a chat', async () => {
    const stream = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, temperature: 0, stream: true });
    let chunks = 0;
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) chunks++;
    expect(chunks).toBeGreaterThan(0);
  });

  it('cancelling a stream mid-way frees the slot at once', async () => {
    const ctl = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'chat', messages: [{ role: 'user', content: 'Tell a long story' }], max_tokens: 400, stream: true },
      { signal: ctl.signal },
    );
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) break; // break aborts the request
    }
    ctl.abort();
    await waitFor(
      'the slot to be idle',
      async () => {
        const slots = (await (await fetch(`${url}/upstream/chat/slots`)).json()) as Array<{ is_processing: boolean }>;
        return slots.every((slot) => !slot.is_processing) ? true : undefined;
      },
      5_000,
      50,
    );
  });

  it('swaps the group for embeddings: chat stops before emb starts', async () => {
    const r = await client.embeddings.create({ model: 'emb', input: ['one', 'two'] });
    expect(r.data).toHaveLength(2);
    expect(r.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(await stateOf('chat')).toBe('stopped');
    expect(isAlive(pids.chat!)).toBe(false);
    expect(llamaServersUnder(s.dir)).toHaveLength(1);
    // And back.
    const again = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 });
    expect(again.choices).toHaveLength(1);
    expect(await stateOf('emb')).toBe('stopped');
  });

  it('unloads an idle instance after its TTL and leaves no process', async () => {
    await client.chat.completions.create({ model: 'ttl', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    expect(await stateOf('ttl')).toBe('ready');
    const before = new Set(llamaServersUnder(s.dir));
    await waitFor('the TTL unload', async () => ((await stateOf('ttl')) === 'stopped' ? true : undefined), 30_000, 200);
    const after = llamaServersUnder(s.dir);
    expect(after.length).toBe(before.size - 1);
  });
});
