/** A reload that changes router settings re-creates the router: nothing waiting or running is lost. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { LoadedConfig } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import { createRouterHost, type RouterHost } from '../../../src/router/router-host.js';
import type { RouterSettings } from '../../../src/router/types.js';
import { createSupervisor } from '../../../src/supervisor/supervisor.js';
import type { SupervisorApi } from '../../../src/supervisor/types.js';
import { fakeSpec, freePort, waitUntil } from '../supervisor/fixtures.js';
import { chat, control, settings } from './http-harness.js';

let dir: string;
let supervisor: SupervisorApi;
let host: RouterHost;
let instancePort: number;
beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'router-reload-'));
  supervisor = createSupervisor({ log: silentLogger() });
  host = createRouterHost({ supervisor, log: silentLogger(), env: { INFER_ENTRY_ROOT: dir, PATH: process.env.PATH }, gpu: null });
  instancePort = await freePort();
});
afterEach(async () => {
  await host.close();
  await supervisor.stopAll({ immediate: true });
  rmSync(dir, { recursive: true, force: true });
});

function config(router: Partial<RouterSettings>): LoadedConfig {
  const env = { FAKE_PID_FILE: path.join(dir, 'a.pids'), FAKE_EVENT_LOG: path.join(dir, 'a.events'), FAKE_TOKENS: '20', FAKE_TOKEN_MS: '40' };
  const spec = fakeSpec('a', instancePort, { env, enabled: false, supervision: { health: { timeoutMs: 3000, intervalMs: 1000, failureThreshold: 3 } } });
  return { file: '<test>', enable: true, instances: [{ ...spec, routing: control({ maxConcurrency: 1 }) }], router: settings(router) };
}

async function apply(router: Partial<RouterSettings>): Promise<void> {
  const loaded = config(router);
  await supervisor.reload(loaded);
  await host.apply(loaded);
}

/** A stream that has started, and a second request waiting behind it (max_concurrency 1). */
async function busy(url: string) {
  const stream = await chat(url, 'a', { stream: true });
  const reader = stream.body!.getReader();
  const first = await reader.read();
  const queued = chat(url, 'a');
  await waitUntil(() => host.current()!.core.resolve('a')!.queued === 1, 10_000, 'one request queued');
  const rest = (async () => {
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += new TextDecoder().decode(value);
    }
  })();
  return { rest, queued };
}

/** The 1-token requests the router sent to warm the model up. */
const warmUps = () =>
  readFileSync(path.join(dir, 'a.events'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { ev: string; max_tokens?: number })
    .filter((e) => e.ev === 'request' && e.max_tokens === 1).length;

const spawns = () => readFileSync(path.join(dir, 'a.pids'), 'utf8').split('\n').filter(Boolean).length;

describe('router reload', () => {
  it('keeps the listener on the same address: the running stream ends normally and the queued request is served', async () => {
    const port = await freePort();
    await apply({ port, maxQueue: 100 });
    const url = `http://127.0.0.1:${port}`;
    const server = host.current()!.listener.server;
    const { rest, queued } = await busy(url);
    await apply({ port, maxQueue: 50 }); // a router setting changed: a new router takes over
    expect(host.current()!.listener.server).toBe(server); // not restarted
    const text = await rest;
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text.match(/"tok\d+ /g)).toHaveLength(20);
    const late = await queued;
    expect(late.status).toBe(200);
    expect((await chat(url, 'a')).status).toBe(200);
    expect(spawns()).toBe(1);
  });

  it('moves to a new address: the old one finishes its stream, then stops accepting', async () => {
    const [before, after] = [await freePort(), await freePort()];
    await apply({ port: before });
    const { rest, queued } = await busy(`http://127.0.0.1:${before}`);
    await apply({ port: after });
    expect((await chat(`http://127.0.0.1:${after}`, 'a')).status).toBe(200);
    expect((await rest).endsWith('data: [DONE]\n\n')).toBe(true);
    expect((await queued).status).toBe(200);
    // Once its answers are sent the old address refuses (a request on a still-open connection is served, then closed).
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await fetch(`http://127.0.0.1:${before}/health`).then(
        (res) => {
          expect(res.status).toBe(200);
          return false;
        },
        () => true,
      );
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(refused).toBe(true);
    expect(spawns()).toBe(1);
  });

  it('does not warm a loaded model again, and does after the reload restarted it', async () => {
    const port = await freePort();
    await apply({ port, maxQueue: 100 });
    const url = `http://127.0.0.1:${port}`;
    expect((await chat(url, 'a')).status).toBe(200);
    expect(warmUps()).toBe(1);
    await apply({ port, maxQueue: 50 });
    expect((await chat(url, 'a')).status).toBe(200);
    expect(warmUps()).toBe(1);
    expect(spawns()).toBe(1);
    // The process changes (a crash, restarted by the supervisor): the new one is warmed before use.
    process.kill(supervisor.get('a')!.pid!, 'SIGKILL');
    await waitUntil(() => spawns() === 2 && host.current()!.core.isWarm('a'), 20_000, 'restarted and warmed');
    expect(warmUps()).toBe(2);
    await apply({ port, maxQueue: 40 });
    expect((await chat(url, 'a')).status).toBe(200);
    expect(warmUps()).toBe(2);
  });
});
