/**
 * End-to-end benchmark with the real llama-server and the tiny random model (issue 6):
 *
 *   npm run build && node dist/bench/e2e.js        # INFER_ENTRY_BENCH_RUNS=5 by default
 *
 * 1. Boot to ready, broken into node start-up / install / config + spawn / model load / detection lag,
 *    from the daemon's own JSON log timestamps and an external /health poller (every 5 ms).
 * 2. Readiness-detection lag and restart latency (SIGKILL → /health 200 again and → `ready`),
 *    compared in the same run with the naive launcher: `llama-server &` plus `curl /health` every 1 s
 *    (restarting the server when it is gone).
 * Uses the cached build (test/e2e/setup) — the first run builds it (minutes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CLI } from '../test/e2e/support/cli.js';
import { configToml, freePort, health } from '../test/e2e/support/llama.js';
import { packArchives } from '../test/e2e/support/pack-archives.js';
import { isAlive, killQuietly, llamaServersUnder, sleep, waitFor } from '../test/e2e/support/processes.js';
import { ensureTinyModel } from '../test/e2e/support/tiny-model.js';
import { ensureLlamaServer } from '../test/e2e/setup/build-llama-server.js';

const RUNS = Number(process.env.INFER_ENTRY_BENCH_RUNS ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

/** Time of the first 200 from /health, polled every 5 ms (the "truth" the supervisors are compared with). */
async function first200(port: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await health(port, 500)) === 200) return Date.now();
    await sleep(5);
  }
  throw new Error(`port ${port} never answered 200`);
}

interface LogLine { time: number; step?: string; phase?: string; instance?: string; to?: string; msg?: string }
function readLog(file: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      out.push({ ...(o as object), time: Date.parse(String(o.time)) } as LogLine);
    } catch {
      // partial line
    }
  }
  return out;
}

function startBoot(dir: string, env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const fd = openSync(log, 'a');
  return spawn(process.execPath, [CLI, 'boot'], { env, stdio: ['ignore', fd, fd], cwd: dir });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (child.pid && isAlive(child.pid)) child.kill('SIGKILL');
}

async function main(): Promise<void> {
  const build = await ensureLlamaServer((l) => process.stderr.write(`${l}\n`));
  const model = await ensureTinyModel(build.dir, build.vocabPath);
  const dir = await mkdtemp(join(tmpdir(), 'infer-entry-bench-e2e-'));
  const archives = await packArchives(build, dir);
  const server = join(build.binDir, 'llama-server');
  const serverArgs = (port: number) => ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-c', '512', '-t', '1', '-np', '1'];

  const phases = { startup: [] as number[], install: [] as number[], spawn: [] as number[], load: [] as number[], lag: [] as number[], total: [] as number[] };
  const restart = { ieHealth: [] as number[], ieReady: [] as number[], naiveHealth: [] as number[] };
  const naiveLag: number[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      // infer-entry: a cold boot into a fresh root, then one SIGKILL → restart.
      const root = join(dir, `root-${run}`);
      const port = await freePort();
      const cfg = join(dir, `config-${run}.toml`);
      writeFileSync(cfg, configToml(model, [{ name: 'a', port }], { log_dir: dir }));
      const log = join(dir, `boot-${run}.log`);
      const env = {
        PATH: process.env.PATH, HOME: process.env.HOME, INFER_ENTRY_ROOT: root, INFER_ENTRY_LOG_FORMAT: 'json',
        AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_PKG_PATH: archives.documentedTarGz,
        AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: cfg,
      };
      const t0 = Date.now();
      const child = startBoot(dir, env, log);
      try {
        const served = await first200(port);
        const ready = await waitFor('ready event', () => readLog(log).find((l) => l.instance === 'a' && l.to === 'ready'), 30_000, 5);
        const lines = readLog(log);
        const install = lines.filter((l) => l.step === 'install');
        const starting = lines.find((l) => l.instance === 'a' && l.to === 'starting')!;
        phases.startup.push(lines[0]!.time - t0);
        phases.install.push(install.at(-1)!.time - install[0]!.time);
        phases.spawn.push(starting.time - install.at(-1)!.time);
        phases.load.push(served - starting.time);
        phases.lag.push(ready.time - served);
        phases.total.push(ready.time - t0);

        const pid = llamaServersUnder(root)[0]!;
        const before = readLog(log).length;
        const killed = Date.now();
        process.kill(pid, 'SIGKILL');
        restart.ieHealth.push((await first200(port)) - killed);
        const again = await waitFor('ready again', () => readLog(log).slice(before).find((l) => l.instance === 'a' && l.to === 'ready'), 30_000, 5);
        restart.ieReady.push(again.time - killed);
      } finally {
        await stopChild(child);
      }

      // The naive launcher: server in the background, curl /health every second, restart when gone.
      const nport = await freePort();
      const script = [
        'S="$1"; shift',
        '"$S" "$@" >/dev/null 2>&1 & pid=$!',
        'while sleep 1; do',
        `  if curl -sf -m 1 http://127.0.0.1:${nport}/health >/dev/null; then echo "ready $(date +%s%3N)"`,
        '  elif ! kill -0 $pid 2>/dev/null; then "$S" "$@" >/dev/null 2>&1 & pid=$!; echo "restarted $(date +%s%3N)"; fi',
        'done',
      ].join('\n');
      const naive = spawn('bash', ['-c', script, 'naive', server, ...serverArgs(nport)], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
      let out = '';
      naive.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      try {
        const served = await first200(nport);
        const seen = await waitFor('naive ready', () => /ready (\d+)/.exec(out)?.[1], 10_000, 5);
        naiveLag.push(Number(seen) - served);
        const pid = llamaServersUnder(build.binDir)[0]!;
        const killed = Date.now();
        process.kill(pid, 'SIGKILL');
        restart.naiveHealth.push((await first200(nport)) - killed);
      } finally {
        killQuietly(-naive.pid!, 'SIGTERM');
        for (const p of llamaServersUnder(build.binDir)) killQuietly(p, 'SIGKILL');
      }
      process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  console.log(`llama.cpp ${build.commit.slice(0, 7)}, tiny model (2 layers, 64-dim), ${RUNS} runs, median\n`);
  console.log('| boot phase (infer-entry boot, fresh root) | median |\n| --- | --- |');
  console.log(`| node start-up → first log line | ${ms(median(phases.startup))} |`);
  console.log(`| install (6 MiB tar.gz: cache + sha256, extract, smoke test, activate) | ${ms(median(phases.install))} |`);
  console.log(`| config + spawn (install done → instance starting) | ${ms(median(phases.spawn))} |`);
  console.log(`| model load (starting → /health 200) | ${ms(median(phases.load))} |`);
  console.log(`| detection lag (/health 200 → state ready) | ${ms(median(phases.lag))} |`);
  console.log(`| **total** (spawn of boot → ready) | ${ms(median(phases.total))} |\n`);
  console.log('| measure | infer-entry | naive loop (curl every 1 s) |\n| --- | --- | --- |');
  console.log(`| readiness-detection lag | ${ms(median(phases.lag))} | ${ms(median(naiveLag))} |`);
  console.log(`| restart latency: SIGKILL → /health 200 | ${ms(median(restart.ieHealth))} | ${ms(median(restart.naiveHealth))} |`);
  console.log(`| restart latency: SIGKILL → supervisor says ready | ${ms(median(restart.ieReady))} | (the loop does not track it) |`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
