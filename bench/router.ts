/**
 * Router benchmark: the same upstream reached directly and through the router, side by side in
 * one run. The router runs in its own process (bench/router-child.ts) so its CPU and RSS are its own.
 *
 *   npm run build && node dist/bench/router.js                       # the fake llama-server, no token delay
 *   BENCH_LLAMA_SERVER=/path/llama-server BENCH_MODEL=/path/m.gguf node dist/bench/router.js   # the real one
 *
 * Prints: added p50/p99 latency of small non-streamed requests at concurrency 1/16/64 (closed loop)
 * and at fixed rates (open loop, BENCH_RATES), TTFB, added delay per streamed token, tokens/s at
 * 1/16/64 streams, router CPU and RSS at 256 streams with the router's heap breakdown.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Pool } from 'undici';

import { formatMemoryMap, memoryMap } from './memory-map.js';
import { routerNodeArgs } from './router-node-args.js';
import { freePort } from '../test/e2e/support/llama.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = [path.resolve(here, '..'), path.resolve(here, '../..')].find((dir) => existsSync(path.join(dir, 'package.json')))!;
const FAKE = path.join(repo, 'test/fixtures/fake-llama-server.mjs');
const CHILD = path.join(repo, 'dist/bench/router-child.js');
const real = process.env.BENCH_LLAMA_SERVER;
const SECONDS = Number(process.env.BENCH_SECONDS ?? (real ? 6 : 4));
const TOKENS = Number(process.env.BENCH_TOKENS ?? (real ? 32 : 200));
// BENCH_ROUTER_ONLY=rss: the warm-up, then the 256 streams alone (RSS and CPU per token there, and
// the heap breakdown); its RSS is not comparable with a full run's, whose earlier points grow the heap.
const RSS_ONLY = process.env.BENCH_ROUTER_ONLY === 'rss';
const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};


const CHAT_SMALL = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
const chatStream = (tokens: number) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: tokens, stream: true, temperature: 0, ignore_eos: true });

/** Each of `concurrency` loops sends requests back to back for `seconds`; returns per-request ms. */
async function latency(pool: Pool, concurrency: number, seconds: number): Promise<number[]> {
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: CHAT_SMALL });
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        times.push(performance.now() - t0);
      }
    }),
  );
  return times;
}

/**
 * Open loop: requests sent at a fixed rate whatever the answers do, as independent clients send
 * them; latency counted from each request's due time, so a late generator is not hidden. Unlike
 * the closed loop above, the offered load is the same for both paths.
 */
async function openLoop(pool: Pool, rate: number, seconds: number): Promise<number[]> {
  const times: number[] = [];
  const n = Math.round(rate * seconds);
  const t0 = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: CHAT_SMALL }).then(async (res) => {
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        times.push(performance.now() - due);
      }),
    );
  }
  await Promise.all(pending);
  return times;
}

/** `streams` concurrent streamed answers of `tokens` tokens; TTFB per stream, total tokens/s. */
async function streams(pool: Pool, count: number, tokens: number): Promise<{ ttfb: number[]; tokensPerSecond: number; perStreamMs: number[] }> {
  const ttfb: number[] = [];
  const perStreamMs: number[] = [];
  let total = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: count }, async () => {
      const s0 = performance.now();
      const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: chatStream(tokens) });
      let first = true;
      for await (const chunk of res.body) {
        if (first) {
          ttfb.push(performance.now() - s0);
          first = false;
        }
        total += (String(chunk).match(/"delta":\{"(?:role|content)/g) ?? []).length;
      }
      perStreamMs.push(performance.now() - s0);
    }),
  );
  return { ttfb, tokensPerSecond: total / ((performance.now() - t0) / 1000), perStreamMs };
}

function procStats(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuMs: (ticks * 1000) / 100, rssMb: Number(rss?.[1] ?? NaN) / 1024 };
}

async function main(): Promise<void> {
  const upstreamPort = await freePort();
  const parallel = real ? 4 : 256;
  const input = real
    ? { executable: real, args: ['-m', process.env.BENCH_MODEL!, '--host', '127.0.0.1', '--port', String(upstreamPort), '-c', String(512 * parallel), '-np', String(parallel), '-t', '1'], env: {}, port: upstreamPort, parallel }
    : { executable: process.execPath, args: [FAKE, '--host', '127.0.0.1', '--port', String(upstreamPort), '--fake-tokens', String(TOKENS)], env: {}, port: upstreamPort, parallel };
  // BENCH_ROUTER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/x": profile the router process alone.
  const node = routerNodeArgs(repo);
  const child = spawn(process.execPath, [...node.args, CHILD, JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...node.env } });
  const routerPort = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port));
    child.once('exit', (code) => reject(new Error(`router child exited ${code}`)));
  });
  const direct = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 300 });
  const routed = new Pool(`http://127.0.0.1:${routerPort}`, { connections: 300 });
  console.log(`upstream: ${real ? `real llama-server (${path.basename(process.env.BENCH_MODEL ?? '')}, -np ${parallel})` : 'fake llama-server, no token delay'}; ${SECONDS} s per point; ${TOKENS} tokens per stream`);
  console.log(`router process: ${Object.entries(node.env).map(([k, v]) => `${k}=${v} `).join('')}node ${node.args.join(' ') || '(no flags)'}${node.daemonFlags.length > 0 ? " (the daemon's shebang flags)" : " (V8's defaults, not the daemon's flags)"}\n`);

  // Wall-clock figures depend on how much CPU the machine gives each process; the router's own CPU
  // time per request / per token does not, and bounds what it can do on one free core.
  const cpu = () => procStats(child.pid!).cpuMs;
  // A fresh process spends its first thousands of requests in the JIT (V8 compiles on its own
  // threads, counted in the process's CPU): warm both paths up once so the figures are the
  // steady state a long-running router has, not its start-up.
  const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
  await latency(direct, 16, WARMUP);
  const w0 = cpu();
  const warm = await latency(routed, 16, WARMUP);
  console.log(`warm-up: ${warm.length} routed requests in ${WARMUP} s, router CPU ${fmt(((cpu() - w0) / warm.length) * 1000, 0)} µs per request while cold\n`);
  if (!RSS_ONLY) {
    console.log('| small non-streamed | direct p50 | router p50 | added p50 | direct p99 | router p99 | added p99 | router CPU per request | target |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const c of real ? [1, 4] : [1, 16, 64]) {
      await latency(direct, c, 0.5);
      await latency(routed, c, 0.5);
      const d = await latency(direct, c, SECONDS);
      const c0 = cpu();
      const r = await latency(routed, c, SECONDS);
      const perRequest = (cpu() - c0) / r.length;
      const [d50, r50, d99, r99] = [pct(d, 50), pct(r, 50), pct(d, 99), pct(r, 99)];
      console.log(`| c=${c} | ${fmt(d50)} ms | ${fmt(r50)} ms | ${fmt(r50 - d50)} ms | ${fmt(d99)} ms | ${fmt(r99)} ms | ${fmt(r99 - d99)} ms | ${fmt(perRequest * 1000, 0)} µs | < 1 ms p50, < 5 ms p99 |`);
    }

    console.log('\n| streams | direct tok/s | router tok/s | ratio | direct TTFB p50 | router TTFB p50 | added per token (wall) | router CPU per token | target |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const n of real ? [1, 4] : [1, 16, 64]) {
      await streams(direct, n, TOKENS);
      const d = await streams(direct, n, TOKENS);
      const c0 = cpu();
      const r = await streams(routed, n, TOKENS);
      const cpuPerToken = (cpu() - c0) / (n * TOKENS);
      const perToken = (pct(r.perStreamMs, 50) - pct(d.perStreamMs, 50)) / TOKENS;
      console.log(`| ${n} | ${fmt(d.tokensPerSecond, 0)} | ${fmt(r.tokensPerSecond, 0)} | ${fmt(r.tokensPerSecond / d.tokensPerSecond)} | ${fmt(pct(d.ttfb, 50))} ms | ${fmt(pct(r.ttfb, 50))} ms | ${fmt(perToken * 1000, 1)} µs | ${fmt(cpuPerToken * 1000, 1)} µs | ≥ 0.95 at 64 |`);
    }
  }

  if (!real) {
    const before = procStats(child.pid!);
    let peak = before.rssMb;
    const sampler = setInterval(() => (peak = Math.max(peak, procStats(child.pid!).rssMb)), 50);
    const t0 = performance.now();
    const r = await streams(routed, 256, TOKENS * 5);
    clearInterval(sampler);
    const after = procStats(child.pid!);
    const wall = performance.now() - t0;
    const perToken = (after.cpuMs - before.cpuMs) / (256 * TOKENS * 5);
    console.log(`\n256 streams × ${TOKENS * 5} tokens through the router: ${fmt(r.tokensPerSecond, 0)} tok/s; router CPU ${fmt(((after.cpuMs - before.cpuMs) / wall) * 100, 0)} % of one core (${fmt(perToken * 1000, 1)} µs per token); router RSS peak ${fmt(peak, 1)} MB (idle ${fmt(before.rssMb, 1)} MB; target < 100 MB)`);
    console.log(`after the 256 streams: ${formatMemoryMap(memoryMap(child.pid!))}`);
    child.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, 300));
    console.log(`load average during the run: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} on ${os.cpus().length} cores`);
  }
  // The closed loop above couples arrivals to answers: at c=16/64 against an upstream that answers in
  // no time, the added latency is the router's CPU time multiplied by the queue the loop keeps full
  // (Little's law) on cores it shares with the generator and the upstream. An open loop at a fixed
  // rate gives both paths the same offered load, as independent clients do.
  if (!real && !RSS_ONLY) {
    console.log('\n| open loop, small non-streamed | direct p50 | router p50 | added p50 | direct p99 | router p99 | added p99 | router CPU | target |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const rate of (process.env.BENCH_RATES ?? '100,500').split(',').map(Number)) {
      await openLoop(direct, rate, 0.5);
      await openLoop(routed, rate, 0.5);
      const d = await openLoop(direct, rate, SECONDS);
      const c0 = cpu();
      const t0 = performance.now();
      const r = await openLoop(routed, rate, SECONDS);
      const busy = (cpu() - c0) / (performance.now() - t0);
      const [d50, r50, d99, r99] = [pct(d, 50), pct(r, 50), pct(d, 99), pct(r, 99)];
      console.log(`| ${rate} req/s | ${fmt(d50)} ms | ${fmt(r50)} ms | ${fmt(r50 - d50)} ms | ${fmt(d99)} ms | ${fmt(r99)} ms | ${fmt(r99 - d99)} ms | ${fmt(busy * 100, 0)} % of a core | < 1 ms p50, < 5 ms p99 |`);
    }
  }

  await direct.close();
  await routed.close();
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

await main();
