/**
 * Memory soak: `infer-entry boot` supervising 8 instances, a /metrics + /v1/instances scrape every
 * 10 s, and a burst of 1,000 concurrent control-socket requests every minute, for 30 minutes
 * (INFER_ENTRY_SOAK_MINUTES). The daemon's RSS (VmRSS, the daemon process only) is sampled every
 * 10 s and written as CSV (INFER_ENTRY_SOAK_CSV, default <tmp>/soak-rss.csv); the summary compares
 * the RSS after warm-up (INFER_ENTRY_SOAK_WARMUP_MINUTES, default 5) with the RSS at the end.
 *
 * INFER_ENTRY_SOAK_SERVER=real uses the e2e tier's real llama-server and tiny model
 * (~/.cache/infer-entry, built by the e2e setup) instead of the fake server; e.g. the
 * "8 real llama-servers under scrapes" figure: INFER_ENTRY_SOAK_SERVER=real
 * INFER_ENTRY_SOAK_MINUTES=1 INFER_ENTRY_SOAK_SCRAPE_MS=2000 INFER_ENTRY_SOAK_BURST_MS=600000.
 *
 *   npm run build && node dist/bench/soak.js
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/e2e/support/llama.js';
import { formatMemoryMap, memoryMap } from './memory-map.js';

const REPO = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8 && !existsSync(path.join(dir, 'package.json')); i++) dir = path.dirname(dir);
  return dir;
})();
const MAIN = path.join(REPO, 'dist/src/main.js');
const FAKE_SERVER = path.join(REPO, 'test/fixtures/fake-llama-server.mjs');

const num = (name: string, fallback: number): number => (process.env[name] ? Number(process.env[name]) : fallback);
const MINUTES = num('INFER_ENTRY_SOAK_MINUTES', 30);
const WARMUP_MINUTES = num('INFER_ENTRY_SOAK_WARMUP_MINUTES', Math.min(5, MINUTES / 3));
const INSTANCES = num('INFER_ENTRY_SOAK_INSTANCES', 8);
const SCRAPE_MS = num('INFER_ENTRY_SOAK_SCRAPE_MS', 10_000);
const BURST_MS = num('INFER_ENTRY_SOAK_BURST_MS', 60_000);
const BURST = num('INFER_ENTRY_SOAK_BURST', 1000);
const SAMPLE_MS = num('INFER_ENTRY_SOAK_SAMPLE_MS', 10_000);
const CSV = process.env.INFER_ENTRY_SOAK_CSV ?? path.join(os.tmpdir(), 'soak-rss.csv');
const REAL = process.env.INFER_ENTRY_SOAK_SERVER === 'real';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


function get(options: http.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...options, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
  });
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The e2e tier's cached llama-server build and tiny model; run the e2e setup first (it builds them). */
async function realServer(): Promise<{ exe: string; model: string }> {
  const { ensureLlamaServer } = await import('../test/e2e/setup/build-llama-server.js');
  const { ensureTinyModel } = await import('../test/e2e/support/tiny-model.js');
  const build = await ensureLlamaServer((l) => process.stderr.write(`${l}\n`));
  return { exe: path.join(build.binDir, 'llama-server'), model: await ensureTinyModel(build.dir, build.vocabPath) };
}

async function writeConfig(root: string, ports: number[]): Promise<string> {
  let exe: string;
  let model: string;
  if (REAL) ({ exe, model } = await realServer());
  else {
    exe = path.join(root, 'llama-server');
    writeFileSync(exe, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FAKE_SERVER)} "$@"\n`, { mode: 0o755 });
    model = path.join(root, 'model.gguf');
    const header = Buffer.alloc(64);
    header.write('GGUF', 0, 'latin1');
    header.writeUInt32LE(3, 4);
    writeFileSync(model, header);
  }
  const lines = ['[master]', `llama_cpp_path = ${JSON.stringify(exe)}`, ''];
  ports.forEach((port, i) => {
    lines.push(`[instance.i${i}.control]`, 'enabled = true', `log_file = ${JSON.stringify(path.join(root, `i${i}.log`))}`, '');
    lines.push(`[instance.i${i}.server]`, `model = ${JSON.stringify(model)}`, 'host = "127.0.0.1"', `port = ${port}`);
    if (REAL) lines.push('ctx_size = 512', 'threads = 1', 'parallel = 1');
    lines.push('');
  });
  const file = path.join(root, 'instances.toml');
  writeFileSync(file, lines.join('\n'));
  return file;
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bench-soak-'));
  const ports = await Promise.all(Array.from({ length: INSTANCES }, () => freePort()));
  const statusPort = await freePort();
  const config = await writeConfig(root, ports);
  const socketPath = path.join(root, 'run/infer-entry.sock');
  const logFd = openSync(path.join(root, 'daemon.log'), 'a');
  // Executed like the image's ENTRYPOINT does (`infer-entry` is a symlink to main.js): through its
  // shebang, so the daemon gets the node flags and environment it has there. This node first on PATH.
  const daemon = spawn(MAIN, ['boot'], {
    env: {
      PATH: [path.dirname(process.execPath), process.env.PATH].join(path.delimiter),
      HOME: root,
      INFER_ENTRY_ROOT: root,
      INFER_ENTRY_LOG_FORMAT: 'json',
      AUTO_INFER_LLAMA_CPP_ON_BOOT: '1',
      AUTO_INFER_LLAMA_CPP_CONFIG: config,
      AUTO_INFER_STATUS_ADDR: `127.0.0.1:${statusPort}`,
      // e.g. --max-semi-space-size=N, to measure a V8 setting before the image adopts it
      ...(process.env.INFER_ENTRY_SOAK_NODE_OPTIONS ? { NODE_OPTIONS: process.env.INFER_ENTRY_SOAK_NODE_OPTIONS } : {}),
    },
    stdio: ['ignore', logFd, logFd],
  });
  const pid = daemon.pid!;
  let stop = false;
  const cleanup = () => {
    stop = true;
    daemon.kill('SIGTERM');
  };
  process.once('SIGINT', cleanup);
  process.once('SIGTERM', cleanup);

  const started = Date.now();
  for (;;) {
    const r = await get({ socketPath, path: '/v1/instances' }).catch(() => null);
    if (r?.status === 200 && (JSON.parse(r.body) as { instances: { state: string }[] }).instances.filter((i) => i.state === 'ready').length === INSTANCES) break;
    if (Date.now() - started > 120_000) throw new Error('instances not ready after 120 s');
    await sleep(200);
  }
  const readyAt = Date.now();
  console.log(`${INSTANCES} ${REAL ? 'real llama-server' : 'fake'} instances ready after ${readyAt - started} ms; soak for ${MINUTES} min (daemon pid ${pid})`);

  writeFileSync(CSV, 'minute,rss_kb,event\n');
  const samples: { t: number; kb: number }[] = [];
  const sample = (event = '') => {
    const kb = rssKb(pid);
    const t = (Date.now() - readyAt) / 60_000;
    samples.push({ t, kb });
    appendFileSync(CSV, `${t.toFixed(2)},${kb},${event}\n`);
  };
  let failures = 0;
  const scrape = async () => {
    const m = await get({ host: '127.0.0.1', port: statusPort, path: '/metrics' }).catch(() => null);
    const i = await get({ socketPath, path: '/v1/instances' }).catch(() => null);
    if (m?.status !== 200 || i?.status !== 200) failures++;
  };
  const burst = async () => {
    const paths = ['/v1/instances', '/healthz', '/readyz', '/v1/instances/i0', '/v1/instances/i0/logs?n=50'];
    const results = await Promise.allSettled(Array.from({ length: BURST }, (_, k) => get({ socketPath, path: paths[k % paths.length]! })));
    failures += results.filter((r) => r.status === 'rejected' || r.value.status >= 500).length;
  };

  const end = readyAt + MINUTES * 60_000;
  let nextScrape = readyAt;
  let nextBurst = readyAt + BURST_MS;
  let nextSample = readyAt;
  while (!stop && Date.now() < end) {
    const now = Date.now();
    if (now >= nextScrape) {
      nextScrape += SCRAPE_MS;
      await scrape();
    }
    if (now >= nextBurst) {
      nextBurst += BURST_MS;
      await burst();
      sample('after-burst');
    }
    if (now >= nextSample) {
      nextSample += SAMPLE_MS;
      sample();
    }
    if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode})`);
    await sleep(Math.max(10, Math.min(nextScrape, nextBurst, nextSample) - Date.now()));
  }
  sample('end');
  const where = formatMemoryMap(memoryMap(pid));
  daemon.kill('SIGTERM');
  await new Promise((resolve) => daemon.once('exit', resolve));

  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const at = (minute: number) => samples.filter((s) => s.t >= minute).slice(0, 3).map((s) => s.kb);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const warm = median(at(WARMUP_MINUTES));
  const last = median(samples.slice(-3).map((s) => s.kb));
  const peak = Math.max(...samples.map((s) => s.kb));
  console.log(`samples: ${samples.length} (every ${SAMPLE_MS / 1000} s and after each burst), CSV: ${CSV}`);
  console.log(`| RSS at ready | after ${WARMUP_MINUTES} min warm-up | at ${MINUTES} min | growth after warm-up | peak | failed requests |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(`| ${mb(samples[0]!.kb)} MB | ${mb(warm)} MB | ${mb(last)} MB | ${((last - warm) / 1024).toFixed(2)} MB | ${mb(peak)} MB | ${failures} |`);
  console.log(`at the end: ${where}`);
  for (let minute = 0; minute <= MINUTES; minute += Math.max(1, Math.round(MINUTES / 10))) {
    const s = at(minute)[0];
    if (s !== undefined) console.log(`  minute ${minute}: ${mb(s)} MB`);
  }
  rmSync(root, { recursive: true, force: true });
}

await main();
