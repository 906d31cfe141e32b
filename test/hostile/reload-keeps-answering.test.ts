/**
 * A daemon reloading a large config keeps answering: the parse and the checks
 * of a reload run off its event loop, so /healthz on the control socket
 * answers while 20 000 instances are being parsed, before the reload is done.
 * Ordering, not timing: the answer must come between "reloading" and "done";
 * and SIGTERM in the middle of such a reload stops the daemon without applying it.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { alive, baseEnv, exitWithin, makeRoot, startCli, waitFor, type Running } from '../unit/control/harness.js';

const INSTANCES = 20_000;
let root: string;
let daemon: Running | undefined;

beforeEach(async () => {
  root = await makeRoot('ie-hostile-reload-');
});
afterEach(async () => {
  if (daemon && alive(daemon.child.pid!)) daemon.child.kill('SIGKILL');
  daemon = undefined;
  await fs.rm(root, { recursive: true, force: true });
});

/** Disabled instances: known to the daemon, never started. */
function config(count: number): string {
  const parts = ['[instance.control]\nenabled = false\n\n[instance.server]\nmodel = "/models/m.gguf"\n'];
  for (let i = 0; i < count; i++) parts.push(`[instance.i${i}.server]\nport = ${10_000 + i}\n`);
  return parts.join('\n');
}

function healthz(socket: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: '/healthz', method: 'GET' }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end();
  });
}

const said = (running: Running, msg: string) => running.logs().some((l) => l.msg === msg);

it(`/healthz answers while a reload parses ${INSTANCES} instances, before the reload is done`, async () => {
  const file = path.join(root, 'instances.toml');
  await fs.writeFile(file, config(1));
  const env = baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: file, INFER_ENTRY_LOG_LEVEL: 'info' });
  daemon = startCli(['boot'], env);
  const socket = path.join(root, 'run', 'infer-entry.sock');
  const running = daemon;
  await waitFor('the first config loaded', () => said(running, 'config loaded'), 30_000);
  expect(await healthz(socket)).toBe(200);

  await fs.writeFile(file, config(INSTANCES));
  running.child.kill('SIGHUP');
  await waitFor('the SIGHUP reload to start', () => said(running, 'reloading the config'), 30_000);
  // With the parse on the daemon's event loop this request waited for it (and was reset).
  const status = await healthz(socket);
  const answered = [{ status, reloadDone: said(running, 'reload done') }];
  await waitFor('the reload to finish', () => running.logs().some((l) => l.msg === 'reload done' || String(l.msg).startsWith('reload on SIGHUP')), 120_000);

  expect(answered).toEqual([{ status: 200, reloadDone: false }]);
  const done = running.logs().find((l) => l.msg === 'reload done') as { added?: string[] } | undefined;
  expect(done?.added).toHaveLength(INSTANCES - 1);

  running.child.kill('SIGTERM');
  expect((await exitWithin(running)).code).toBe(0);
}, 180_000);

it(`SIGTERM during a reload of ${INSTANCES} instances stops the daemon with exit 0 without applying it`, async () => {
  const file = path.join(root, 'instances.toml');
  await fs.writeFile(file, config(1));
  daemon = startCli(['boot'], baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: file, INFER_ENTRY_LOG_LEVEL: 'info' }));
  const running = daemon;
  await waitFor('the first config loaded', () => said(running, 'config loaded'), 30_000);
  await fs.writeFile(file, config(INSTANCES));
  running.child.kill('SIGHUP');
  await waitFor('the SIGHUP reload to start', () => said(running, 'reloading the config'), 30_000);
  running.child.kill('SIGTERM');
  expect((await exitWithin(running, 60_000)).code).toBe(0);
  expect(said(running, 'reload done')).toBe(false);
}, 120_000);
