import { afterEach, describe, expect, it } from 'vitest';

import { chat, startStack, type Stack } from './http-harness.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('loading_heartbeat', () => {
  it('keeps a waiting stream alive with SSE comments, then streams the answer', async () => {
    stack = await startStack([{ name: 'a', fake: { env: { FAKE_LOAD_MS: '1500' } } }], { loadingHeartbeatMs: 200 });
    const res = await chat(stack.url, 'a', { stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith(': loading\n\n')).toBe(true);
    expect(text).toContain('"tok0 "');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    // A non-streamed request is not committed early.
    const plain = await chat(stack.url, 'a');
    expect((await plain.text()).startsWith('{')).toBe(true);
  });

  it('reports a failure after the 200 was committed as one error frame, without [DONE]', async () => {
    // Two node spawns that fail take far longer than the first 50 ms beat.
    stack = await startStack([{ name: 'b', fake: { env: { FAKE_FAIL: 'bad-argument' } } }], { loadingHeartbeatMs: 50 });
    const res = await chat(stack.url, 'b', { stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^(: loading\n\n)+data: \{"error":\{"message":"The model 'b' failed \(bad-argument\)/);
    expect(text).not.toContain('[DONE]');
  });
});
