/**
 * The Ollama layer's cost beside the OpenAI path: one router (bench/router-child.ts, its own
 * process, protocol routes mounted as the daemon mounts them) in front of the fake llama-server
 * without token delay, asked the same things through /v1/chat/completions and /api/chat, and the
 * upstream asked directly, in one run. The 64-stream table also has the reference proxies of
 * bench/router.ts (nginx if installed, a bare Node TCP relay) on the OpenAI path.
 *
 *   npm run build && node dist/bench/router-protocols.js     # BENCH_SECONDS=4 BENCH_TOKENS=200
 *
 * Wall-clock figures depend on how much CPU the shared machine gives each process; the router's own
 * CPU time per request and per streamed token does not, so the Ollama layer's added cost is given
 * both ways. Targets (issue): < 1 ms added p50; streamed throughput ≥ 95 % of direct at 64 streams.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Pool } from 'undici';

import { procStats, startReferences } from './reference-proxies.js';
import { routerNodeArgs } from './router-node-args.js';
import { freePort } from '../test/e2e/support/llama.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = [path.resolve(here, '..'), path.resolve(here, '../..')].find((dir) => existsSync(path.join(dir, 'package.json')))!;
const FAKE = path.join(repo, 'test/fixtures/fake-llama-server.mjs');
const CHILD = path.join(repo, 'dist/bench/router-child.js');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 200);
const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;


interface Target {
  pool: Pool;
  path: string;
  small: string;
  stream: string;
  /** Tokens in a streamed body (SSE frames or NDJSON lines that carry content). */
  tokens(body: string): number;
}

async function call(t: Target, body: string): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const res = await t.pool.request({ method: 'POST', path: t.path, headers: { 'content-type': 'application/json' }, body });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${t.path}: HTTP ${res.statusCode} ${text}`);
  return { ms: performance.now() - t0, text };
}

async function latency(t: Target, concurrency: number, seconds: number): Promise<number[]> {
  const out: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) out.push((await call(t, t.small)).ms);
  }));
  return out;
}

async function streams(t: Target, count: number): Promise<{ tokensPerSecond: number; tokens: number }> {
  const t0 = performance.now();
  const bodies = await Promise.all(Array.from({ length: count }, () => call(t, t.stream)));
  const tokens = bodies.reduce((sum, b) => sum + t.tokens(b.text), 0);
  return { tokensPerSecond: tokens / ((performance.now() - t0) / 1000), tokens };
}

async function main(): Promise<void> {
  const upstreamPort = await freePort();
  const input = { executable: process.execPath, args: [FAKE, '--host', '127.0.0.1', '--port', String(upstreamPort), '--fake-tokens', String(TOKENS)], env: {}, port: upstreamPort, parallel: 256 };
  const node = routerNodeArgs(repo);
  const child = spawn(process.execPath, [...node.args, CHILD, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const routerPort = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d) => resolve((JSON.parse(String(d)) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`router child exited ${code}`)));
  });
  const messages = [{ role: 'user', content: 'hi' }];
  const sse = (body: string) => (body.match(/"content":"tok/g) ?? []).length;
  const openAi = { small: JSON.stringify({ model: 'm', messages, max_tokens: 1 }), stream: JSON.stringify({ model: 'm', messages, stream: true }), tokens: sse };
  const ollama = { small: JSON.stringify({ model: 'm', messages, stream: false, options: { num_predict: 1 } }), stream: JSON.stringify({ model: 'm', messages }), tokens: sse };
  const direct: Target = { pool: new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 300 }), path: '/v1/chat/completions', ...openAi };
  const viaOpenAi: Target = { pool: new Pool(`http://127.0.0.1:${routerPort}`, { connections: 300 }), path: '/v1/chat/completions', ...openAi };
  const viaOllama: Target = { pool: new Pool(`http://127.0.0.1:${routerPort}`, { connections: 300 }), path: '/api/chat', ...ollama };
  const cpu = () => procStats(child.pid!).cpuMs;
  // The references of bench/router.ts in the streamed table: what any proxy costs here (BENCH_REFERENCES=0: none).
  const references = await startReferences(upstreamPort, node.daemonFlags);
  console.log(`upstream: fake llama-server, no token delay; ${SECONDS} s per point; ${TOKENS} tokens per stream\n`);

  console.log('| small non-streamed | direct p50 | OpenAI path p50 | Ollama p50 | Ollama added over OpenAI p50 | router CPU / request: OpenAI | Ollama | Ollama added | target |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of [1, 16, 64]) {
    for (const t of [direct, viaOpenAi, viaOllama]) await latency(t, c, 0.5);
    const d = await latency(direct, c, SECONDS);
    let c0 = cpu();
    const o = await latency(viaOpenAi, c, SECONDS);
    const oCpu = (cpu() - c0) / o.length;
    c0 = cpu();
    const l = await latency(viaOllama, c, SECONDS);
    const lCpu = (cpu() - c0) / l.length;
    const added = pct(l, 50) - pct(o, 50);
    console.log(`| c=${c} | ${fmt(pct(d, 50))} ms | ${fmt(pct(o, 50))} ms | ${fmt(pct(l, 50))} ms | ${fmt(added)} ms | ${fmt(oCpu * 1000, 0)} µs | ${fmt(lCpu * 1000, 0)} µs | ${fmt((lCpu - oCpu) * 1000, 0)} µs | < 1 ms p50 |`);
  }

  console.log('\n| 64 streams | tokens/s | vs direct | router CPU per token | target |');
  console.log('| --- | --- | --- | --- | --- |');
  const rows: Array<[string, Target, () => number]> = [
    ['direct', direct, () => NaN],
    ['OpenAI path', viaOpenAi, cpu],
    ['Ollama /api/chat', viaOllama, cpu],
    ...references.map((r): [string, Target, () => number] => [`${r.name} (OpenAI path)`, { ...direct, pool: new Pool(`http://127.0.0.1:${r.port}`, { connections: 300 }) }, r.cpuMs]),
  ];
  const best: Record<string, { tps: number; cpuPerToken: number }> = {};
  for (let round = 0; round < 3; round++) {
    for (const [name, t, proxyCpu] of rows) {
      const c0 = proxyCpu();
      const r = await streams(t, 64);
      const cpuPerToken = (proxyCpu() - c0) / r.tokens;
      if (!best[name] || r.tokensPerSecond > best[name]!.tps) best[name] = { tps: r.tokensPerSecond, cpuPerToken };
    }
  }
  for (const [name] of rows) {
    const b = best[name]!;
    const ratio = b.tps / best.direct!.tps;
    console.log(`| ${name} | ${fmt(b.tps, 0)} | ${fmt(ratio * 100, 1)} % | ${name === 'direct' ? '—' : `${fmt(b.cpuPerToken * 1000, 1)} µs`} | ${name.startsWith('Ollama') ? `≥ 95 %: ${ratio >= 0.95 ? 'yes' : 'no'}` : ''} |`);
  }
  console.log(`\nload average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} on ${os.cpus().length} cores`);
  await Promise.all(rows.map(([, t]) => t.pool.close()));
  await Promise.all(references.map((r) => r.stop()));
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

await main();
