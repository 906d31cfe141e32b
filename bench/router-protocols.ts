/**
 * The Ollama layer's cost: the same fake llama-server asked directly, through the router's OpenAI
 * path, and through the router's Ollama API, in one process and one run.
 *
 *   npm run build && node dist/bench/router-protocols.js      # BENCH_REQUESTS=2000 BENCH_STREAM_TOKENS=200
 *
 * Measures (fake server without token delay, so the router and the translation are what costs):
 * - small non-streamed chat requests at concurrency 1/16/64: p50/p99 latency, and what the Ollama
 *   layer adds over the OpenAI path (target < 1 ms added p50);
 * - 64 concurrent streams: tokens/s direct (SSE), via the OpenAI path (SSE) and via /api/chat
 *   (NDJSON); target: Ollama ≥ 95 % of direct.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { InstanceSpec } from '../src/config/types.js';
import { silentLogger } from '../src/log.js';
import { registerProtocolRoutes } from '../src/router/protocols/register.js';
import { createRouter } from '../src/router/router.js';
import type { RouterSettings } from '../src/router/types.js';
import { createSupervisor } from '../src/supervisor/supervisor.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = [path.resolve(here, '..'), path.resolve(here, '../..')].find((dir) => existsSync(path.join(dir, 'package.json')))!;
const FAKE = path.join(repo, 'test/fixtures/fake-llama-server.mjs');
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 2000);
const STREAM_TOKENS = Number(process.env.BENCH_STREAM_TOKENS ?? 200);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** One request; resolves with ms to the last byte and the body bytes. */
function request(port: number, urlPath: string, body: string): Promise<{ ms: number; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, bytes: Buffer.concat(chunks) }) : reject(new Error(`${urlPath}: HTTP ${res.statusCode} ${Buffer.concat(chunks).toString()}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function latencies(port: number, urlPath: string, body: string, concurrency: number, total: number): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < total) out.push((await request(port, urlPath, body)).ms);
  }));
  return out.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

async function main(): Promise<void> {
  const fakePort = await freePort();
  const log = silentLogger();
  const supervisor = createSupervisor({ log });
  const spec: Omit<InstanceSpec, 'fingerprint'> = {
    name: 'bench',
    enabled: true,
    executable: process.execPath,
    args: [FAKE, '--host', '127.0.0.1', '--port', String(fakePort), '-c', '4096', '-np', '64'],
    env: { FAKE_TOKENS: String(STREAM_TOKENS) },
    envRemove: [],
    host: '127.0.0.1',
    probeHost: '127.0.0.1',
    port: fakePort,
    model: undefined,
    secrets: [],
    logFile: undefined,
    supervision: {
      restart: 'always',
      backoff: { initialMs: 50, maxMs: 400, multiplier: 2, jitter: 0.2, resetAfterMs: 60_000 },
      crashLoop: { maxUnreadyStarts: 5, maxRestarts: 10, windowMs: 600_000 },
      health: { path: '/health', startupIntervalMs: 50, startupTimeoutMs: 10_000, intervalMs: 5_000, timeoutMs: 1_000, failureThreshold: 3 },
      stopGraceMs: 1_000,
    },
  };
  await supervisor.reload({ file: '<bench>', enable: true, instances: [{ ...spec, fingerprint: createHash('sha256').update(JSON.stringify(spec)).digest('hex') }] });
  const settings: RouterSettings = {
    enable: true, host: '127.0.0.1', port: 0, maxQueue: 4096, queueTimeoutMs: 600_000, swapMaxWaitMs: 30_000, maxBodyBytes: 1 << 20,
    gpuBudgetMb: {}, warmup: true, loadingHeartbeatMs: 0, groups: {}, ollama: true, ollamaListen: undefined,
  };
  const router = await createRouter({
    supervisor, log, settings,
    instances: [{ name: 'bench', host: '127.0.0.1', port: fakePort, control: { onDemand: false, group: undefined, aliases: [], ttlMs: 0, maxConcurrency: 1024, maxQueue: 4096, pinned: false, vramMb: undefined, serverAlias: undefined, contextSize: 4096, gpus: [], apiKey: undefined } }],
  });
  registerProtocolRoutes(router, settings, log);
  const routerPort = (await router.start()).port;
  await supervisor.waitSettled(['bench']);

  const messages = [{ role: 'user', content: 'hi' }];
  const openaiSmall = JSON.stringify({ model: 'bench', messages, max_tokens: 1 });
  const ollamaSmall = JSON.stringify({ model: 'bench', messages, stream: false, options: { num_predict: 1 } });
  const paths = {
    direct: [fakePort, '/v1/chat/completions', openaiSmall],
    openai: [routerPort, '/v1/chat/completions', openaiSmall],
    ollama: [routerPort, '/api/chat', ollamaSmall],
  } as const;
  for (const [port, p, b] of Object.values(paths)) await latencies(port, p, b, 8, 200); // warm pools and JIT

  console.log(`\nsmall non-streamed chat requests (${REQUESTS} per cell), ms\n`);
  console.log('| concurrency | direct p50 / p99 | OpenAI path p50 / p99 | Ollama /api/chat p50 / p99 | Ollama added over OpenAI p50 | target < 1 ms |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const c of [1, 16, 64]) {
    const row: Record<string, number[]> = {};
    for (const [name, [port, p, b]] of Object.entries(paths)) row[name] = await latencies(port, p, b, c, REQUESTS);
    const added = pct(row.ollama!, 0.5) - pct(row.openai!, 0.5);
    const cell = (xs: number[]) => `${pct(xs, 0.5).toFixed(2)} / ${pct(xs, 0.99).toFixed(2)}`;
    console.log(`| ${c} | ${cell(row.direct!)} | ${cell(row.openai!)} | ${cell(row.ollama!)} | ${added.toFixed(2)} | ${added < 1 ? 'yes' : 'no'} |`);
  }

  const streams = 64;
  const openaiStream = JSON.stringify({ model: 'bench', messages, stream: true });
  const ollamaStream = JSON.stringify({ model: 'bench', messages, stream: true });
  const throughput = async (port: number, p: string, b: string, count: (bytes: Buffer) => number) => {
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: streams }, () => request(port, p, b)));
    const seconds = (performance.now() - t0) / 1000;
    return results.reduce((sum, r) => sum + count(r.bytes), 0) / seconds;
  };
  const sseTokens = (bytes: Buffer) => (bytes.toString().match(/"content":"tok/g) ?? []).length;
  const ndjsonTokens = (bytes: Buffer) => (bytes.toString().match(/"content":"tok/g) ?? []).length;
  const runs: Record<string, number[]> = { direct: [], openai: [], ollama: [] };
  for (let i = 0; i < 3; i++) {
    runs.direct!.push(await throughput(fakePort, '/v1/chat/completions', openaiStream, sseTokens));
    runs.openai!.push(await throughput(routerPort, '/v1/chat/completions', openaiStream, sseTokens));
    runs.ollama!.push(await throughput(routerPort, '/api/chat', ollamaStream, ndjsonTokens));
  }
  const best = (xs: number[]) => Math.max(...xs);
  console.log(`\n${streams} concurrent streams × ${STREAM_TOKENS} tokens, tokens/s (best of 3)\n`);
  console.log('| path | tokens/s | vs direct | target |');
  console.log('| --- | --- | --- | --- |');
  for (const name of ['direct', 'openai', 'ollama']) {
    const ratio = best(runs[name]!) / best(runs.direct!);
    console.log(`| ${name} | ${best(runs[name]!).toFixed(0)} | ${(ratio * 100).toFixed(1)} % | ${name === 'ollama' ? (ratio >= 0.95 ? '≥ 95 %: yes' : '≥ 95 %: no') : ''} |`);
  }
  await router.close();
  await supervisor.stopAll();
  agent.destroy();
}

await main();
