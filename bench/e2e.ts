/**
 * End-to-end benchmark with the real llama-server and the tiny random model:
 *
 *   npm run build && node dist/bench/e2e.js        # INFER_ENTRY_BENCH_RUNS=5 by default
 *
 * 1. Boot to ready, broken into node start-up / install / config + spawn / model load / detection lag,
 *    from the daemon's own JSON log timestamps and an external /health poller (every 5 ms).
 * 2. Readiness-detection lag and restart latency (SIGKILL → /health 200 again and → `ready`),
 *    compared in the same run with the naive launcher: `llama-server &` plus `curl /health` every 1 s
 *    (restarting the server when it is gone), and with PM2 (autorestart, no delay) when it is installed:
 *    `npm install --prefix /tmp/pm2 pm2`, or INFER_ENTRY_BENCH_PM2=/path/to/pm2/bin/pm2.
 * Uses the cached build (test/e2e/setup) — the first run builds it (minutes).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CLI } from '../test/e2e/support/cli.js';
import { configToml, freePort, health } from '../test/e2e/support/llama.js';
import { packArchives } from '../test/e2e/support/pack-archives.js';
import { isAlive, killQuietly, llamaServersUnder, sleep, waitFor } from '../test/e2e/support/processes.js';
import { ensureTinyModel } from '../test/e2e/support/tiny-model.js';
import { ensureLlamaServer } from '../test/e2e/setup/build-llama-server.js';

const RUNS = Number(process.env.INFER_ENTRY_BENCH_RUNS ?? 5);
const PM2 = process.env.INFER_ENTRY_BENCH_PM2 ?? '/tmp/pm2/node_modules/pm2/bin/pm2';
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');
/** A lag measured against the 5 ms /health poller: below its resolution it can even come out negative. */
const lagMs = (x: number): string => (Number.isFinite(x) && x < 5 ? '< 5 ms (poller resolution)' : ms(x));

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

/**
 * The llama-server of `binDir` listening on `port`: other runs (an e2e test, another bench) may use
 * the same cached build at the same time, and only this bench's own server may be killed.
 */
function serverOnPort(binDir: string, port: number): number | undefined {
  return llamaServersUnder(binDir).find((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv[argv.indexOf('--port') + 1] === String(port);
    } catch {
      return false;
    }
  });
}

/** PM2 runs the server with autorestart and no restart delay; `stop` ends PM2's daemon and the server. */
function startPm2(dir: string, server: string, args: string[]): { stop: () => void } {
  const env = { ...process.env, PM2_HOME: join(dir, 'pm2-home') };
  const eco = join(dir, 'ecosystem.config.cjs');
  const app = { name: 'a', script: server, args, interpreter: 'none', exec_mode: 'fork', autorestart: true, restart_delay: 0, out_file: '/dev/null', error_file: '/dev/null' };
  writeFileSync(eco, `module.exports = ${JSON.stringify({ apps: [app] })};\n`);
  const stop = (): void => {
    execFileSync(process.execPath, [PM2, 'kill'], { env, stdio: 'ignore', timeout: 60_000 });
  };
  try {
    execFileSync(process.execPath, [PM2, 'start', eco], { env, stdio: 'ignore', timeout: 60_000 });
  } catch (err) {
    // a half-started PM2 daemon must not outlive the bench
    stop();
    throw err;
  }
  return { stop };
}

async function main(): Promise<void> {
  const build = await ensureLlamaServer((l) => process.stderr.write(`${l}\n`));
  const model = await ensureTinyModel(build.dir, build.vocabPath);
  const dir = await mkdtemp(join(tmpdir(), 'infer-entry-bench-e2e-'));
  const archives = await packArchives(build, dir);
  const server = join(build.binDir, 'llama-server');
  const serverArgs = (port: number) => ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-c', '512', '-t', '1', '-np', '1'];

  const phases = { startup: [] as number[], install: [] as number[], spawn: [] as number[], load: [] as number[], lag: [] as number[], total: [] as number[] };
  const restart = { ieHealth: [] as number[], ieReady: [] as number[], ie0Health: [] as number[], ie0Ready: [] as number[], naiveHealth: [] as number[] };
  const naiveLag: number[] = [];
  const pm2Restart: number[] = [];
  const pm2 = existsSync(PM2);
  if (!pm2) process.stderr.write(`PM2 not found at ${PM2}: npm install --prefix /tmp/pm2 pm2 (or set INFER_ENTRY_BENCH_PM2); its column stays n/a\n`);
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

        // The same with restart_backoff_initial = 0s (loaded by `reload`), to compare the mechanism
        // with PM2's immediate restart rather than the deliberate 1 s backoff.
        writeFileSync(cfg, configToml(model, [{ name: 'a', port }], { log_dir: dir, restart_backoff_initial: '0s' }));
        const beforeReload = readLog(log).length;
        execFileSync(process.execPath, [CLI, 'reload'], { env, stdio: 'ignore', timeout: 30_000 });
        await waitFor('ready after reload', () => readLog(log).slice(beforeReload).find((l) => l.instance === 'a' && l.to === 'ready'), 30_000, 5);
        const pid0 = llamaServersUnder(root)[0]!;
        const before0 = readLog(log).length;
        const killed0 = Date.now();
        process.kill(pid0, 'SIGKILL');
        restart.ie0Health.push((await first200(port)) - killed0);
        const again0 = await waitFor('ready again (backoff 0)', () => readLog(log).slice(before0).find((l) => l.instance === 'a' && l.to === 'ready'), 30_000, 5);
        restart.ie0Ready.push(again0.time - killed0);
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
        const pid = serverOnPort(build.binDir, nport)!;
        const killed = Date.now();
        process.kill(pid, 'SIGKILL');
        restart.naiveHealth.push((await first200(nport)) - killed);
      } finally {
        killQuietly(-naive.pid!, 'SIGTERM');
        const left = serverOnPort(build.binDir, nport);
        if (left) killQuietly(left, 'SIGKILL');
      }

      // PM2: the same server with autorestart; it has no HTTP readiness (online = process alive).
      if (pm2) {
        const pport = await freePort();
        const pdir = join(dir, `pm2-${run}`);
        await mkdir(pdir);
        const managed = startPm2(pdir, server, serverArgs(pport));
        try {
          await first200(pport);
          const pid = serverOnPort(build.binDir, pport)!;
          const killed = Date.now();
          process.kill(pid, 'SIGKILL');
          pm2Restart.push((await first200(pport)) - killed);
        } finally {
          managed.stop();
          const left = serverOnPort(build.binDir, pport);
          if (left) killQuietly(left, 'SIGKILL');
        }
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
  console.log(`| detection lag (/health 200 → state ready) | ${lagMs(median(phases.lag))} |`);
  console.log(`| **total** (spawn of boot → ready) | ${ms(median(phases.total))} |\n`);
  const pm2Cell = (x: string): string => (pm2 ? x : 'n/a (not installed)');
  console.log('| measure | infer-entry | naive loop (curl every 1 s) | PM2 (autorestart, no delay) |\n| --- | --- | --- | --- |');
  console.log(`| readiness-detection lag | ${lagMs(median(phases.lag))} | ${lagMs(median(naiveLag))} | ${pm2Cell('no HTTP readiness: online = process alive')} |`);
  console.log(`| restart latency: SIGKILL → /health 200 | ${ms(median(restart.ieHealth))} | ${ms(median(restart.naiveHealth))} | ${pm2Cell(ms(median(pm2Restart)))} |`);
  console.log(`| restart latency: SIGKILL → supervisor says ready | ${ms(median(restart.ieReady))} | (the loop does not track it) | ${pm2Cell('(no readiness state)')} |`);
  console.log(`| the same with restart_backoff_initial = 0s: → /health 200 · → ready | ${ms(median(restart.ie0Health))} · ${ms(median(restart.ie0Ready))} | | |`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
