/**
 * A fixed amount of work through the router process alone, for before/after comparisons that a
 * loaded machine cannot blur: the router's CPU time per unit (user and system, per thread), and
 * under valgrind its instruction count for the measured rounds only.
 *
 *   node dist/bench/router-work.js openai|ollama|small [ROUNDS]     (default 8 rounds)
 *
 * A round is 64 streams of 200 tokens (openai: /v1/chat/completions, ollama: /api/chat), or 2,000
 * small non-streamed requests at concurrency 16 (small). BENCH_WARM rounds (default 3) come first.
 * BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=F" runs the router under that command;
 * its counters are zeroed after the warm-up and dumped (F.1) after the measured rounds.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Pool } from 'undici';

import { routerNodeArgs } from './router-node-args.js';
import { freePort } from '../test/e2e/support/llama.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = [path.resolve(here, '..'), path.resolve(here, '../..')].find((dir) => existsSync(path.join(dir, 'package.json')))!;
const work = process.argv[2] ?? 'openai';
const rounds = Number(process.argv[3] ?? 8);
const warm = Number(process.env.BENCH_WARM ?? 3);
if (!['openai', 'ollama', 'small'].includes(work)) throw new Error(`unknown work ${work}: openai, ollama or small`);

const upstreamPort = await freePort();
const input = { executable: process.execPath, args: [path.join(repo, 'test/fixtures/fake-llama-server.mjs'), '--host', '127.0.0.1', '--port', String(upstreamPort), '--fake-tokens', '200'], env: {}, port: upstreamPort, parallel: 256 };
const node = routerNodeArgs(repo);
const wrap = (process.env.BENCH_WRAP ?? '').split(' ').filter(Boolean);
const child = spawn(wrap[0] ?? process.execPath, [...wrap.slice(1), ...(wrap.length > 0 ? [process.execPath] : []), ...node.args, path.join(repo, 'dist/bench/router-child.js'), JSON.stringify(input)], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, ...node.env },
});
const port = await new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve((JSON.parse(String(d)) as { port: number }).port)));

/** ms of CPU per thread of the router process, from /proc. */
function threads(): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${tid} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}`, { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 });
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out;
}

const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 300 });
const messages = [{ role: 'user', content: 'hi' }];
const units = work === 'small' ? 2000 : 64 * 200;
const small = JSON.stringify({ model: 'm', messages, max_tokens: 1 });
const streamBody = work === 'ollama' ? JSON.stringify({ model: 'm', messages }) : JSON.stringify({ model: 'm', messages, stream: true });
const streamPath = work === 'ollama' ? '/api/chat' : '/v1/chat/completions';
async function round(): Promise<void> {
  if (work === 'small') {
    let left = units;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left-- > 0) {
          const r = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: small });
          await r.body.arrayBuffer();
          if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
        }
      }),
    );
    return;
  }
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      const r = await pool.request({ method: 'POST', path: streamPath, headers: { 'content-type': 'application/json' }, body: streamBody });
      await r.body.text();
      if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
    }),
  );
}

for (let i = 0; i < warm; i++) await round();
if (wrap.length > 0) execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
const before = threads();
const t0 = performance.now();
for (let i = 0; i < rounds; i++) await round();
const seconds = (performance.now() - t0) / 1000;
const after = threads();
if (wrap.length > 0) execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });

const total = rounds * units;
const unit = work === 'small' ? 'request' : 'token';
let user = 0;
let sys = 0;
const perThread: string[] = [];
for (const [name, now] of after) {
  const was = before.get(name) ?? { user: 0, sys: 0 };
  user += now.user - was.user;
  sys += now.sys - was.sys;
  const ms = now.user + now.sys - was.user - was.sys;
  if (ms > 0) perThread.push(`${name.split(' ')[0]}: ${ms} ms`);
}
const us = (ms: number) => ((ms * 1000) / total).toFixed(2);
console.log(`${work}: ${total} ${unit}s in ${seconds.toFixed(1)} s; router CPU per ${unit} ${us(user + sys)} µs (user ${us(user)}, system ${us(sys)}); by thread ${perThread.join(', ')}`);
await pool.close();
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
