// The e2e tier's own footing: the cached build and the generated model work on their own,
// so a failing scenario points at infer-entry, not at the harness.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { startDaemon, type Daemon } from './support/cli.js';
import { chat, completion, freePort, health } from './support/llama.js';
import { waitFor } from './support/processes.js';

describe('the cached llama-server with the tiny generated model', () => {
  const e2e = inject('e2e');
  let dir: string;
  let server: Daemon;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infer-entry-e2e-direct-'));
    port = await freePort();
    const args = ['-m', e2e.model, '--host', '127.0.0.1', '--port', String(port), '-c', '512', '-t', '1', '-np', '1'];
    server = startDaemon(args, { PATH: process.env.PATH ?? '/usr/bin:/bin' }, join(dir, 'server.log'), [join(e2e.binDir, 'llama-server')]);
    await waitFor('llama-server /health to answer 200', async () => ((await health(port)) === 200 ? true : undefined), 60_000, 100);
  });

  afterAll(async () => {
    await server?.stop(5_000);
    await rm(dir, { recursive: true, force: true });
  });

  it('answers /completion deterministically at temperature 0', async () => {
    const first = await completion(port);
    const second = await completion(port);
    expect(first.tokens).toBe(8);
    expect(first.content.length).toBeGreaterThan(0);
    expect(second.content).toBe(first.content);
  });

  it('answers /v1/chat/completions', async () => {
    const r = await chat(port);
    expect(typeof r.content).toBe('string');
    expect(['length', 'stop']).toContain(r.finish);
  });

  it('exits 0 on SIGTERM once loaded', async () => {
    const exit = await server.stop(10_000);
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
