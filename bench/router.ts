/**
 * Router benchmark: the same upstream reached directly and through the router, side by side in
 * one run. The router runs in its own process (bench/router-child.ts) so its CPU and RSS are its own.
 *
 *   npm run build && node dist/bench/router.js                       # the fake llama-server, no token delay
 *   BENCH_LLAMA_SERVER=/path/llama-server BENCH_MODEL=/path/m.gguf node dist/bench/router.js   # the real one
 *
 * Beside the router, on the same upstream and load: reference proxies (bench/reference-proxies.ts:
 * nginx if installed, BENCH_NGINX_WORKERS worker processes, default 1; a bare Node TCP relay), so
 * the router's figures read against what any proxy costs on this machine. BENCH_REFERENCES=0: none.
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

import { childrenOf, procStats, startReferences } from './reference-proxies.js';
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

/** One way to reach the upstream: directly, through the router, or through a reference proxy. */
interface Path {
  name: string;
  pool: Pool;
  /** CPU time of the proxy's processes, ms (NaN for the direct path). */
  cpuMs(): number;
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
  // The references: what any proxy costs on the same cores, upstream and load (BENCH_REFERENCES=0: none).
  const references = await startReferences(upstreamPort, node.daemonFlags);
  const pool = (port: number) => new Pool(`http://127.0.0.1:${port}`, { connections: 300 });
  const direct: Path = { name: 'direct', pool: pool(upstreamPort), cpuMs: () => NaN };
  const routed: Path = { name: 'router', pool: pool(routerPort), cpuMs: () => procStats(child.pid!).cpuMs };
  const proxies: Path[] = [routed, ...references.map((r) => ({ name: r.name, pool: pool(r.port), cpuMs: r.cpuMs }))];
  console.log(`upstream: ${real ? `real llama-server (${path.basename(process.env.BENCH_MODEL ?? '')}, -np ${parallel})` : 'fake llama-server, no token delay'}; ${SECONDS} s per point; ${TOKENS} tokens per stream`);
  console.log(`router process: ${Object.entries(node.env).map(([k, v]) => `${k}=${v} `).join('')}node ${node.args.join(' ') || '(no flags)'}${node.daemonFlags.length > 0 ? " (the daemon's shebang flags)" : " (V8's defaults, not the daemon's flags)"}`);
  console.log(`reference proxies: ${references.map((r) => r.name).join(', ') || 'none'}\n`);
  // On 2 saturated cores the stream ratio is set by the CPU all three stages spend per token
  // (generator, upstream, proxy): that sum is the stable measure a busy machine does not move.
  const upstreamPids = childrenOf(child.pid!);
  const machineCpu = () => {
    const own = process.cpuUsage();
    return (own.user + own.system) / 1000 + upstreamPids.reduce((sum, pid) => sum + procStats(pid).cpuMs, 0);
  };

  // Wall-clock figures depend on how much CPU the machine gives each process; the proxy's own CPU
  // time per request / per token does not, and bounds what it can do on one free core.
  // A fresh process spends its first thousands of requests in the JIT (V8 compiles on its own
  // threads, counted in the process's CPU): warm every path up once so the figures are the
  // steady state a long-running router has, not its start-up.
  const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
  await latency(direct.pool, 16, WARMUP);
  for (const p of proxies) {
    const w0 = p.cpuMs();
    const warm = await latency(p.pool, 16, WARMUP);
    console.log(`warm-up, ${p.name}: ${warm.length} requests in ${WARMUP} s, ${fmt(((p.cpuMs() - w0) / warm.length) * 1000, 0)} µs of CPU per request while cold`);
  }
  if (!RSS_ONLY) {
    console.log('\n| small non-streamed (closed loop) | path | p50 | p99 | added p50 | added p99 | proxy CPU per request | target |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const c of real ? [1, 4] : [1, 16, 64]) {
      for (const p of [direct, ...proxies]) await latency(p.pool, c, 0.5);
      const d = await latency(direct.pool, c, SECONDS);
      console.log(`| c=${c} | direct | ${fmt(pct(d, 50))} ms | ${fmt(pct(d, 99))} ms | | | | |`);
      for (const p of proxies) {
        const c0 = p.cpuMs();
        const r = await latency(p.pool, c, SECONDS);
        const perRequest = (p.cpuMs() - c0) / r.length;
        console.log(`| c=${c} | ${p.name} | ${fmt(pct(r, 50))} ms | ${fmt(pct(r, 99))} ms | ${fmt(pct(r, 50) - pct(d, 50))} ms | ${fmt(pct(r, 99) - pct(d, 99))} ms | ${fmt(perRequest * 1000, 0)} µs | < 1 ms p50, < 5 ms p99 |`);
      }
    }

    // Streamed points are short (tens of ms at 1/16 streams): best of 3 rounds (6 at 64), direct measured in each.
    console.log('\n| streams (best round) | path | tok/s | ratio to direct | TTFB p50 | added per token (wall) | proxy CPU per token | CPU per token, all stages | ratio from CPU | target |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const n of real ? [1, 4] : [1, 16, 64]) {
      await streams(direct.pool, n, TOKENS);
      // CPU summed over every round (10 ms /proc ticks need the volume); tok/s the best round's.
      const best = new Map<Path, Awaited<ReturnType<typeof streams>>>();
      const cpuSum = new Map<Path, { proxy: number; all: number; tokens: number }>();
      for (let round = 0; round < (n === 64 ? 6 : 3); round++) {
        for (const p of [direct, ...proxies]) {
          const c0 = p.cpuMs();
          const m0 = machineCpu();
          const r = await streams(p.pool, n, TOKENS);
          const proxy = p === direct ? 0 : p.cpuMs() - c0;
          const sum = cpuSum.get(p) ?? { proxy: 0, all: 0, tokens: 0 };
          cpuSum.set(p, { proxy: sum.proxy + proxy, all: sum.all + machineCpu() - m0 + proxy, tokens: sum.tokens + n * TOKENS });
          if (!best.has(p) || r.tokensPerSecond > best.get(p)!.tokensPerSecond) best.set(p, r);
        }
      }
      const perToken = (p: Path) => {
        const sum = cpuSum.get(p)!;
        return { r: best.get(p)!, cpuPerToken: sum.proxy / sum.tokens, allPerToken: sum.all / sum.tokens };
      };
      const { r: d, allPerToken: dAll } = perToken(direct);
      console.log(`| ${n} | direct | ${fmt(d.tokensPerSecond, 0)} | 1.00 | ${fmt(pct(d.ttfb, 50))} ms | | | ${fmt(dAll * 1000, 1)} µs | 1.00 | |`);
      for (const p of proxies) {
        const { r, cpuPerToken, allPerToken } = perToken(p);
        const added = (pct(r.perStreamMs, 50) - pct(d.perStreamMs, 50)) / TOKENS;
        console.log(`| ${n} | ${p.name} | ${fmt(r.tokensPerSecond, 0)} | ${fmt(r.tokensPerSecond / d.tokensPerSecond)} | ${fmt(pct(r.ttfb, 50))} ms | ${fmt(added * 1000, 1)} µs | ${fmt(cpuPerToken * 1000, 1)} µs | ${fmt(allPerToken * 1000, 1)} µs | ${fmt(dAll / allPerToken)} | ≥ 0.95 at 64 |`);
      }
    }
  }

  if (!real) {
    const before = procStats(child.pid!);
    let peak = before.rssMb;
    const sampler = setInterval(() => (peak = Math.max(peak, procStats(child.pid!).rssMb)), 50);
    const t0 = performance.now();
    const r = await streams(routed.pool, 256, TOKENS * 5);
    clearInterval(sampler);
    const after = procStats(child.pid!);
    const wall = performance.now() - t0;
    const perToken = (after.cpuMs - before.cpuMs) / (256 * TOKENS * 5);
    console.log(`\n256 streams × ${TOKENS * 5} tokens through the router: ${fmt(r.tokensPerSecond, 0)} tok/s; router CPU ${fmt(((after.cpuMs - before.cpuMs) / wall) * 100, 0)} % of one core (${fmt(perToken * 1000, 1)} µs per token); router RSS peak ${fmt(peak, 1)} MB (idle ${fmt(before.rssMb, 1)} MB; target < 100 MB)`);
    console.log(`after the 256 streams: ${formatMemoryMap(memoryMap(child.pid!))}`);
    child.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  // The closed loop above couples arrivals to answers: at c=16/64 against an upstream that answers in
  // no time, the added latency is the proxy's CPU time multiplied by the queue the loop keeps full
  // (Little's law) on cores it shares with the generator and the upstream. An open loop at a fixed
  // rate gives every path the same offered load, as independent clients do.
  if (!real && !RSS_ONLY) {
    console.log('\n| open loop, small non-streamed | path | p50 | p99 | added p50 | added p99 | proxy CPU | target |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const rate of (process.env.BENCH_RATES ?? '100,500').split(',').map(Number)) {
      for (const p of [direct, ...proxies]) await openLoop(p.pool, rate, 0.5);
      const d = await openLoop(direct.pool, rate, SECONDS);
      console.log(`| ${rate} req/s | direct | ${fmt(pct(d, 50))} ms | ${fmt(pct(d, 99))} ms | | | | |`);
      for (const p of proxies) {
        const c0 = p.cpuMs();
        const t0 = performance.now();
        const r = await openLoop(p.pool, rate, SECONDS);
        const busy = (p.cpuMs() - c0) / (performance.now() - t0);
        console.log(`| ${rate} req/s | ${p.name} | ${fmt(pct(r, 50))} ms | ${fmt(pct(r, 99))} ms | ${fmt(pct(r, 50) - pct(d, 50))} ms | ${fmt(pct(r, 99) - pct(d, 99))} ms | ${fmt(busy * 100, 0)} % of a core | < 1 ms p50, < 5 ms p99 |`);
      }
    }
  }
  console.log(`\nload average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} on ${os.cpus().length} cores`);

  await Promise.all([direct, ...proxies].map((p) => p.pool.close()));
  await Promise.all(references.map((r) => r.stop()));
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

await main();
