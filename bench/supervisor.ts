/**
 * Supervisor benchmark: infer-entry vs supervisord vs PM2, each supervising the same fake
 * llama-server (test/fixtures/fake-llama-server.mjs) in the same run.
 *
 *   npm run build && INFER_ENTRY_BENCH_PM2=/tmp/pm2/node_modules/pm2/bin/pm2 node dist/bench/supervisor.js
 *
 * Measures: readiness-detection lag (server ready → supervisor says ready), restart latency
 * (SIGKILL → /health 200 again), supervisor RSS and CPU with 1, 8 and 32 instances, and log
 * throughput (a child printing 20 MB as fast as it can). Prints markdown tables.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inferEntry, pm2, pm2Runtime, supervisord, type BenchInstance, type RunningTool, type Tool } from './supervisor-tools.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = [path.resolve(here, '..'), path.resolve(here, '../..')].find((dir) => existsSync(path.join(dir, 'package.json')))!;
const FAKE = path.join(repo, 'test/fixtures/fake-llama-server.mjs');
const DRIVER = path.join(repo, 'dist/bench/supervisor-driver.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

async function waitHealthy(ports: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    while (!(await healthy(port))) {
      if (Date.now() > deadline) throw new Error(`port ${port} not healthy within ${timeoutMs} ms`);
      await sleep(2);
    }
  }
}

function procStats(pid: number): { rssKb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKb, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}
const TICKS_PER_S = 100;

function lastPid(file: string): number {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  return Number(lines[lines.length - 1]);
}

function tail(file: string, bytes = 4096): string {
  if (!existsSync(file)) return '';
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, buf, 0, buf.length, Math.max(0, size - buf.length));
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

async function withTool<T>(tool: Tool, instances: BenchInstance[], fn: (run: RunningTool, startedAt: number) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `bench-sup-${tool.name}-`));
  const startedAt = Date.now();
  const run = await tool.start(instances, dir, FAKE);
  try {
    return await fn(run, startedAt);
  } finally {
    await run.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function readinessLag(tool: Tool): Promise<string[]> {
  const rows: string[] = [];
  // Loads spread over 1 s after the fast first second, so the 1 s probe phase is sampled evenly.
  for (const [label, loads] of [
    ['300 ms (inside the fast first second)', [300, 300, 300, 300, 300]],
    ['2–2.8 s (past the fast first second)', [2_000, 2_200, 2_400, 2_600, 2_800]],
  ] as const) {
    const ports = await freePorts(5);
    const dirHint = mkdtempSync(path.join(os.tmpdir(), 'bench-ready-'));
    const instances = ports.map((port, i) => ({ name: `r${i}`, port, env: { FAKE_LOAD_MS: String(loads[i]), FAKE_READY_FILE: path.join(dirHint, `r${i}`) } }));
    const lags = await withTool(tool, instances, async (run) => {
      const deadline = Date.now() + 30_000;
      while (run.transitions.filter((t) => t.to === 'ready').length < instances.length && Date.now() < deadline) await sleep(20);
      return instances.map((i) => {
        const ready = run.transitions.find((t) => t.instance === i.name && t.to === 'ready');
        return ready ? ready.at - Number(readFileSync(path.join(dirHint, i.name), 'utf8').trim()) : NaN;
      });
    });
    rmSync(dirHint, { recursive: true, force: true });
    rows.push(`| ${tool.name} | model "loads" in ${label} | ${fmt(median(lags))} ms | ${fmt(Math.max(...lags))} ms |`);
  }
  return rows;
}

async function restartLatency(tool: Tool, label = tool.name, reps = 5): Promise<string> {
  const [port] = await freePorts(1);
  const pidDir = mkdtempSync(path.join(os.tmpdir(), 'bench-pid-'));
  const pidFile = path.join(pidDir, 'pids');
  const times = await withTool(tool, [{ name: 'k', port: port!, env: { FAKE_PID_FILE: pidFile } }], async (run) => {
    await waitHealthy([port!], 20_000);
    const out: { health: number; noticed: number }[] = [];
    for (let i = 0; i < reps; i++) {
      await sleep(1_500); // past supervisord's startsecs, so the next exit counts as a crash of a RUNNING process
      const pid = lastPid(pidFile);
      const seen = run.transitions.length;
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      while (!(await healthy(port!))) await sleep(1);
      const t1 = Date.now();
      let noticed = NaN;
      if (tool.name === 'infer-entry') {
        const deadline = Date.now() + 5_000;
        while (Date.now() < deadline) {
          const ready = run.transitions.slice(seen).find((t) => t.to === 'ready');
          if (ready) {
            noticed = ready.at - t0;
            break;
          }
          await sleep(5);
        }
      }
      out.push({ health: t1 - t0, noticed });
    }
    return out;
  });
  rmSync(pidDir, { recursive: true, force: true });
  const noticed = times.map((t) => t.noticed);
  return `| ${label} | ${fmt(median(times.map((t) => t.health)))} ms | ${fmt(Math.max(...times.map((t) => t.health)))} ms | ${noticed.every(Number.isNaN) ? 'no readiness state' : `${fmt(median(noticed))} ms`} |`;
}

async function footprint(tool: Tool, n: number, windowMs = 10_000): Promise<string> {
  const ports = await freePorts(n);
  const instances = ports.map((port, i) => ({ name: `f${i}`, port, env: {} }));
  return withTool(tool, instances, async (run, t0) => {
    await waitHealthy(ports, 120_000);
    const upMs = Date.now() - t0;
    const startCpu = procStats(run.pid).cpuTicks;
    await sleep(1_000);
    const a = procStats(run.pid);
    await sleep(windowMs);
    const b = procStats(run.pid);
    const cpuPct = ((b.cpuTicks - a.cpuTicks) / TICKS_PER_S / (windowMs / 1000)) * 100;
    return `| ${tool.name} | ${n} | ${fmt(b.rssKb / 1024, 1)} MB | ${fmt(cpuPct, 2)} % | ${fmt(startCpu / TICKS_PER_S, 2)} s | ${fmt(upMs)} ms |`;
  });
}

const FLOOD_LINES = 200_000;
const FLOOD_WIDTH = 100;
const FLOOD_RE = /flood done: (\d+) lines in ([\d.]+) ms \(started at ([\d.]+)\)/;

async function floodBaseline(target: 'ignore' | 'file'): Promise<number> {
  const [port] = await freePorts(1);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-flood-'));
  const out = target === 'file' ? openSync(path.join(dir, 'out'), 'w') : 'ignore';
  const child = spawn(process.execPath, [FAKE, '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, FAKE_FLOOD_LINES: String(FLOOD_LINES), FAKE_FLOOD_LINE_BYTES: String(FLOOD_WIDTH) },
    stdio: ['ignore', out, 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const deadline = Date.now() + 60_000;
  while (!FLOOD_RE.test(err) && Date.now() < deadline) await sleep(10);
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return Number(FLOOD_RE.exec(err)?.[2] ?? NaN);
}

interface FloodResult {
  childMs: number;
  endToEndMs: number;
  /** Lines `flood N` in the log file, each N once, N = 0 .. FLOOD_LINES-1. */
  complete: boolean;
  /** The supervisor's CPU time (user+sys) from the child's first line to the flood's last one in the file. */
  cpuMs: number;
}

async function logFlood(tool: Tool): Promise<FloodResult> {
  const [port] = await freePorts(1);
  // The flood starts once the model "loaded": the supervisor's CPU is read between its first lines and the end.
  const env = { FAKE_FLOOD_LINES: String(FLOOD_LINES), FAKE_FLOOD_LINE_BYTES: String(FLOOD_WIDTH), FAKE_LOAD_MS: '500' };
  return withTool(tool, [{ name: 'flood', port: port!, env }], async (run) => {
    const last = `flood ${FLOOD_LINES - 1} `;
    const deadline = Date.now() + 120_000;
    while (tail(run.stderrFile('flood')) === '' && Date.now() < deadline) await sleep(5);
    const cpuBefore = procStats(run.pid).cpuTicks;
    while (!tail(run.stdoutFile('flood')).includes(last) && Date.now() < deadline) await sleep(5);
    const doneAt = Date.now();
    const cpuMs = ((procStats(run.pid).cpuTicks - cpuBefore) * 1000) / TICKS_PER_S;
    let match: RegExpExecArray | null = null;
    while (!(match = FLOOD_RE.exec(readFileSync(run.stderrFile('flood'), 'utf8'))) && Date.now() < deadline) await sleep(10);
    const seen = new Uint8Array(FLOOD_LINES);
    let count = 0;
    for (const line of readFileSync(run.stdoutFile('flood'), 'utf8').split('\n')) {
      const m = /^flood (\d+) x+$/.exec(line);
      if (m && seen[Number(m[1])] === 0) {
        seen[Number(m[1])] = 1;
        count++;
      }
    }
    return { childMs: Number(match?.[2] ?? NaN), endToEndMs: doneAt - Number(match?.[3] ?? NaN), complete: count === FLOOD_LINES, cpuMs };
  });
}

async function main(): Promise<void> {
  const tools = [inferEntry(DRIVER), supervisord(), pm2(process.env.INFER_ENTRY_BENCH_PM2)];
  const usable: Tool[] = [];
  for (const tool of tools) {
    const why = tool.unavailable();
    if (why) console.log(`skipping ${tool.name}: ${why}`);
    else usable.push(tool);
  }
  const ie = usable.find((t) => t.name === 'infer-entry');
  const only = new Set((process.env.INFER_ENTRY_BENCH_ONLY ?? 'ready,restart,footprint,logs').split(','));
  console.log(`# supervisor bench — ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} cpus\n`);

  if (ie && only.has('ready')) {
    console.log('## Readiness-detection lag (server answers 200 → supervisor state ready), 5 instances each');
    console.log('| tool | case | median | max |\n| --- | --- | --- | --- |');
    for (const row of await readinessLag(ie)) console.log(row);
    console.log('| supervisord, pm2 | — | no HTTP readiness: RUNNING/online = process alive | |\n');
  }
  if (only.has('restart')) {
    console.log('## Restart latency (SIGKILL → /health 200 again), 5 kills');
    console.log('| tool | median | max | supervisor says ready after |\n| --- | --- | --- | --- |');
    for (const tool of usable) {
      // infer-entry's default 1 s backoff is deliberate; 0 here compares the mechanism itself.
      if (tool.name === 'infer-entry') {
        const noBackoff = inferEntry(DRIVER, { backoff: { initialMs: 0, maxMs: 60_000, multiplier: 2, jitter: 0.2, resetAfterMs: 60_000 } });
        console.log(await restartLatency(noBackoff, 'infer-entry (backoff 0)'));
      } else {
        console.log(await restartLatency(tool));
      }
    }
    console.log('');
  }
  if (only.has('footprint')) {
    console.log('## Supervisor footprint (steady state over 10 s after every instance answers 200)');
    console.log('| tool | instances | RSS | CPU | CPU time to start all | all healthy after |\n| --- | --- | --- | --- | --- | --- |');
    for (const n of [1, 8, 32]) for (const tool of usable) console.log(await footprint(tool, n));
    console.log('');
  }
  if (only.has('logs')) {
    const rounds = Number(process.env.INFER_ENTRY_BENCH_LOG_ROUNDS ?? 5);
    const devNull = median([await floodBaseline('ignore'), await floodBaseline('ignore'), await floodBaseline('ignore')]);
    const toFile = median([await floodBaseline('file'), await floodBaseline('file'), await floodBaseline('file')]);
    console.log(`## Log throughput: the child prints ${FLOOD_LINES} lines of ${FLOOD_WIDTH} bytes as fast as it can`);
    console.log(`Baseline: stdout to /dev/null ${fmt(devNull)} ms, to a file ${fmt(toFile)} ms (median of 3). Tools interleaved, median of ${rounds}.\n`);
    // `daemon_log = false`: the instance's log file only, the one sink PM2 writes. pm2-runtime (PM2's
    // container mode) also prints every line to its stdout: the like-for-like row for the default.
    const fileOnly = ie ? [inferEntry(DRIVER, {}, 'infer-entry, daemon_log = false', false)] : [];
    const runtime = usable.some((t) => t.name === 'pm2') ? [pm2Runtime(process.env.INFER_ENTRY_BENCH_PM2)] : [];
    const flooded = [...usable, ...fileOnly, ...runtime];
    const results = new Map<string, FloodResult[]>(flooded.map((t) => [t.name, []]));
    for (let round = 0; round < rounds; round++) for (const tool of flooded) results.get(tool.name)!.push(await logFlood(tool));
    const ref = results.get('pm2');
    const refChild = ref ? median(ref.map((r) => r.childMs)) : NaN;
    const refEnd = ref ? median(ref.map((r) => r.endToEndMs)) : NaN;
    console.log('| tool | child write time (held back vs /dev/null) | all lines in the log file after | throughput | every line present | vs PM2: child · log file | supervisor CPU (user+sys) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const tool of flooded) {
      const rs = results.get(tool.name)!;
      const child = median(rs.map((r) => r.childMs));
      const end = median(rs.map((r) => r.endToEndMs));
      const mb = (FLOOD_LINES * FLOOD_WIDTH) / 1e6;
      const all = rs.filter((r) => r.complete).length;
      console.log(
        `| ${tool.name} | ${fmt(child)} ms (${fmt(child / devNull, 2)}×) | ${fmt(end)} ms | ${fmt(mb / (end / 1000), 1)} MB/s | ${all}/${rs.length} runs | ${fmt(child / refChild, 2)}× · ${fmt(end / refEnd, 2)}× | ${fmt(median(rs.map((r) => r.cpuMs)))} ms |`,
      );
    }
    console.log(`\nruns (child ms / log file ms): ${[...results].map(([n, rs]) => `${n}: ${rs.map((r) => `${fmt(r.childMs)}/${fmt(r.endToEndMs)}`).join(' ')}`).join('; ')}`);
  }
}

await main();
