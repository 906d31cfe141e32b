// Ollama clients against the router in front of the real llama-server and the tiny model: a chat,
// a generate (with its context round trip, and suffix), an embed, and /api/tags and /api/ps listing what runs.
import { readFile, stat, writeFile } from 'node:fs/promises';

import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import type { Daemon } from './support/cli.js';
import { freePort, health } from './support/llama.js';
import { waitFor } from './support/processes.js';
import { Scenario } from './support/scenario.js';

describe('the Ollama API through the router, real llama-server', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let daemon: Daemon;
  let url: string;
  let ollama: Ollama;

  beforeAll(async () => {
    s = await Scenario.create('router-ollama');
    await s.writeConfig(e2e.model, [{ name: 'chat' }, { name: 'embed' }]);
    const port = await freePort();
    const toml = await readFile(s.configFile, 'utf8');
    // The embed instance serves /v1/embeddings (llama-server needs --embeddings, and a pooling type for OpenAI's shape).
    await writeFile(s.configFile, toml.replace('[instance.embed.server]\n', '[instance.embed.server]\nembeddings = true\nextra_args = ["--pooling", "mean"]\n'));
    await s.appendConfig(['[instance.chat.control]', 'on_demand = true', '[instance.embed.control]', 'on_demand = true', '[router]', 'enable = true', `listen = "127.0.0.1:${port}"`].join('\n'));
    daemon = s.boot(s.bootEnv(e2e.archives.documentedTarGz));
    url = `http://127.0.0.1:${port}`;
    await waitFor('the router port', async () => ((await health(port)) === 200 ? true : undefined), 120_000, 200);
    ollama = new Ollama({ host: url });
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('/api/tags lists the configured models; nothing runs before the first request', async () => {
    expect((await ollama.list()).models.map((m) => m.name)).toEqual(['chat:latest', 'embed:latest']);
    expect((await ollama.ps()).models).toEqual([]);
  });

  it('chat, streamed and not, starts the on-demand instance', async () => {
    const reply = await ollama.chat({ model: 'chat', messages: [{ role: 'user', content: 'Hello' }], stream: false, options: { temperature: 0, num_predict: 8 } });
    expect(reply.done).toBe(true);
    expect(reply.load_duration).toBeGreaterThan(0); // this request started the model
    expect(reply.eval_count).toBeGreaterThan(0);
    expect(typeof reply.message.content).toBe('string');
    let pieces = 0;
    let last: { done: boolean } | undefined;
    for await (const part of await ollama.chat({ model: 'chat', messages: [{ role: 'user', content: 'Hello' }], stream: true, options: { num_predict: 8 } })) {
      pieces++;
      last = part;
    }
    expect(pieces).toBeGreaterThan(1);
    expect(last?.done).toBe(true);
  });

  it('generate at temperature 0 gives the same text twice', async () => {
    const a = await ollama.generate({ model: 'chat', prompt: 'Once upon a time', stream: false, options: { temperature: 0, num_predict: 8 } });
    const b = await ollama.generate({ model: 'chat:latest', prompt: 'Once upon a time', stream: false, options: { temperature: 0, num_predict: 8 } });
    expect(a.done).toBe(true);
    expect(b.response).toBe(a.response);
  });

  it('generate returns context; sent back, it is put before the next turn (the prompt grows by it)', async () => {
    const options = { temperature: 0, num_predict: 4 };
    let first: { context?: number[]; done: boolean } | undefined;
    for await (const part of await ollama.generate({ model: 'chat', prompt: 'Once upon a time', stream: true, options })) first = part;
    expect(first?.done).toBe(true);
    const context = first!.context!;
    expect(context.length).toBeGreaterThan(4);
    expect(context.every((t) => Number.isInteger(t) && t >= 0)).toBe(true);
    const next = await ollama.generate({ model: 'chat', prompt: 'there was', context, stream: false, options });
    const alone = await ollama.generate({ model: 'chat', prompt: 'there was', stream: false, options });
    // the second prompt holds the first exchange: its tokens more than the turn alone (give or take a merge at the seam)
    expect(next.prompt_eval_count).toBeGreaterThanOrEqual(alone.prompt_eval_count + context.length - 2);
    expect(next.context.length).toBeGreaterThan(context.length);
  });

  it('suffix goes to /infill; the tiny model has no FIM tokens, so it is a clear 400', async () => {
    await expect(ollama.generate({ model: 'chat', prompt: 'def f(a):', suffix: '    return a', stream: false })).rejects.toMatchObject({
      status_code: 400,
      error: expect.stringMatching(/^chat does not support insert: Infill is not supported by this model/),
    });
  });

  it('embed returns one vector per input', async () => {
    const out = await ollama.embed({ model: 'embed', input: ['hello world', 'goodbye'] });
    expect(out.embeddings).toHaveLength(2);
    expect(out.embeddings[0]!.length).toBeGreaterThan(0);
    expect(out.embeddings[0]).not.toEqual(out.embeddings[1]);
  });

  it('/api/ps lists what runs, with its context; show reports what /props said', async () => {
    const running = await ollama.ps();
    expect(running.models.map((m) => m.name).sort()).toEqual(['chat:latest', 'embed:latest']);
    const chat = running.models.find((m) => m.name === 'chat:latest')!;
    expect((chat as unknown as { context_length: number }).context_length).toBe(512);
    // no GPU and no vram_mb: CPU-only as Ollama shows it; size is the model file
    expect(chat.size_vram).toBe(0);
    expect(chat.size).toBe((await stat(e2e.model)).size);
    expect((await ollama.list()).models.find((m) => m.name === 'chat:latest')!.size).toBe(chat.size);
    const shown = await ollama.show({ model: 'chat' });
    expect(shown.template.length).toBeGreaterThan(0);
  });

  it('keep_alive 0 unloads; the process is gone', async () => {
    await ollama.generate({ model: 'chat', prompt: '', keep_alive: 0 });
    await waitFor('chat stopped', async () => ((await ollama.ps()).models.some((m) => m.name === 'chat:latest') ? undefined : true), 20_000, 200);
    expect(daemon).toBeDefined();
  });
});
