import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { chat, startStack, type Stack } from './http-harness.js';

let stack: Stack | undefined;
let once: string | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
  if (once) rmSync(once, { force: true });
  once = undefined;
});

describe('router: an instance that dies before answering', () => {
  it('retries the request once on the restarted instance; the client gets a normal answer', async () => {
    once = path.join(tmpdir(), `router-die-once-${process.pid}-${Date.now()}`);
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_CRASH_ON_REQUEST: '/v1/chat/completions', FAKE_CRASH_ONCE_FILE: once } } }]);
    const res = await chat(stack.url, 'a');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toMatch(/^tok0/);
    expect(stack.spawns('a')).toBe(2);
    // The restarted instance got the request once (the first one never answered).
    expect(stack.events('a').filter((e) => e.ev === 'request' && e.path === '/v1/chat/completions')).toHaveLength(2);
  });

  it('answers 502 upstream_error when the restarted instance dies before answering too', async () => {
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_CRASH_ON_REQUEST: '/v1/chat/completions' } } }]);
    const res = await chat(stack.url, 'a');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'upstream_error', message: expect.stringContaining("'a'") } });
    expect(stack.spawns('a')).toBeGreaterThanOrEqual(2);
  });
});
