/**
 * The three supervisors the benchmark compares, behind one interface: start N fake
 * llama-servers, tell the supervisor process's pid, stop. Each writes the servers'
 * stdout/stderr to files in its own temp dir, as each would in a container.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { DEFAULT_SUPERVISION } from '../src/config/defaults.js';
import type { InstanceSpec, SupervisionSettings } from '../src/config/types.js';

export interface BenchInstance {
  name: string;
  port: number;
  env: Record<string, string>;
}

export interface RunningTool {
  /** The supervisor process whose RSS/CPU is measured. */
  pid: number;
  /** File holding the instance's stdout (and, for infer-entry, stderr too). */
  stdoutFile(name: string): string;
  stderrFile(name: string): string;
  /** infer-entry only: transition events as they arrive. */
  transitions: { instance: string; to: string; at: number; pid: number | null }[];
  stop(): Promise<void>;
}

export interface Tool {
  name: string;
  /** null when usable, else why not. */
  unavailable(): string | null;
  start(instances: BenchInstance[], dir: string, fakeServer: string): Promise<RunningTool>;
}

const exitOf = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

/** A supervisor running in the foreground that writes `<name>.out` / `<name>.err` per program; SIGTERM stops it. */
function foreground(child: ChildProcess, dir: string): RunningTool {
  return {
    pid: child.pid!,
    stdoutFile: (name) => path.join(dir, `${name}.out`),
    stderrFile: (name) => path.join(dir, `${name}.err`),
    transitions: [],
    async stop() {
      child.kill('SIGTERM');
      await exitOf(child);
    },
  };
}

/** `name` and `daemonLog` make a variant, e.g. one writing the instance's log file only (`daemon_log = false`). */
export function inferEntry(driverJs: string, supervision: Partial<SupervisionSettings> = {}, name = 'infer-entry', daemonLog = true): Tool {
  return {
    name,
    unavailable: () => (existsSync(driverJs) ? null : `${driverJs} missing: run npm run build`),
    async start(instances, dir, fakeServer) {
      const specs: InstanceSpec[] = instances.map((i) => {
        const args = [fakeServer, '--host', '127.0.0.1', '--port', String(i.port)];
        return {
          name: i.name,
          enabled: true,
          executable: process.execPath,
          args,
          env: i.env,
          envRemove: [],
          host: '127.0.0.1',
          probeHost: '127.0.0.1',
          port: i.port,
          model: undefined,
          secrets: [],
          logFile: path.join(dir, `${i.name}.log`),
          daemonLog,
          supervision: { ...DEFAULT_SUPERVISION, ...supervision },
          fingerprint: createHash('sha256').update(JSON.stringify([args, i.env])).digest('hex'),
        };
      });
      const specFile = path.join(dir, 'specs.json');
      writeFileSync(specFile, JSON.stringify(specs));
      // e.g. INFER_ENTRY_BENCH_DRIVER_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the supervisor under the flood
      const flags = (process.env.INFER_ENTRY_BENCH_DRIVER_FLAGS ?? '').split(' ').filter(Boolean);
      const runtime = runtimeLog(path.join(dir, 'daemon.log'));
      const child = spawn(process.execPath, [...flags, driverJs, specFile], { env: process.env, stdio: ['ignore', 'pipe', runtime.stdio] });
      runtime.handOver();
      const transitions: RunningTool['transitions'] = [];
      createInterface({ input: child.stdout! }).on('line', (line) => transitions.push(JSON.parse(line)));
      return {
        pid: child.pid!,
        stdoutFile: (name) => path.join(dir, `${name}.log`),
        stderrFile: (name) => path.join(dir, `${name}.log`),
        transitions,
        async stop() {
          child.kill('SIGTERM');
          await exitOf(child);
        },
      };
    },
  };
}

export function supervisord(): Tool {
  return {
    name: 'supervisord',
    unavailable: () => (existsSync('/usr/bin/supervisord') ? null : 'supervisord not installed (apt-get install -y supervisor)'),
    async start(instances, dir, fakeServer) {
      const programs = instances.map((i) =>
        [
          `[program:${i.name}]`,
          `command=${process.execPath} ${fakeServer} --host 127.0.0.1 --port ${i.port}`,
          'autorestart=true',
          'startsecs=1',
          'stopasgroup=true',
          'killasgroup=true',
          `stdout_logfile=${path.join(dir, `${i.name}.out`)}`,
          `stderr_logfile=${path.join(dir, `${i.name}.err`)}`,
          'stdout_logfile_maxbytes=0',
          'stderr_logfile_maxbytes=0',
          Object.keys(i.env).length > 0 ? `environment=${Object.entries(i.env).map(([k, v]) => `${k}="${v}"`).join(',')}` : '',
        ].join('\n'),
      );
      const conf = path.join(dir, 'supervisord.conf');
      writeFileSync(
        conf,
        [
          '[supervisord]',
          `logfile=${path.join(dir, 'supervisord.log')}`,
          `pidfile=${path.join(dir, 'supervisord.pid')}`,
          'nodaemon=true',
          `childlogdir=${dir}`,
          ...programs,
          '',
        ].join('\n'),
      );
      return foreground(spawn('/usr/bin/supervisord', ['-n', '-c', conf], { stdio: 'ignore' }), dir);
    },
  };
}

function pm2Ecosystem(instances: BenchInstance[], dir: string, fakeServer: string): string {
  const apps = instances.map((i) => ({
    name: i.name,
    script: process.execPath,
    args: [fakeServer, '--host', '127.0.0.1', '--port', String(i.port)],
    interpreter: 'none',
    exec_mode: 'fork',
    autorestart: true,
    env: i.env,
    out_file: path.join(dir, `${i.name}.out`),
    error_file: path.join(dir, `${i.name}.err`),
    merge_logs: true,
  }));
  const eco = path.join(dir, 'ecosystem.config.cjs');
  writeFileSync(eco, `module.exports = ${JSON.stringify({ apps })};\n`);
  return eco;
}

const PM2_MISSING = 'PM2 not found: npm install --prefix /tmp/pm2 pm2 and set INFER_ENTRY_BENCH_PM2=/tmp/pm2/node_modules/pm2/bin/pm2';

export function pm2(pm2Bin: string | undefined): Tool {
  return {
    name: 'pm2',
    unavailable: () => (pm2Bin && existsSync(pm2Bin) ? null : PM2_MISSING),
    async start(instances, dir, fakeServer) {
      const home = path.join(dir, 'pm2-home');
      const env = { ...process.env, PM2_HOME: home };
      const eco = pm2Ecosystem(instances, dir, fakeServer);
      execFileSync(process.execPath, [pm2Bin!, 'start', eco], { env, stdio: 'ignore' });
      const pid = Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim());
      return {
        pid,
        stdoutFile: (name) => path.join(dir, `${name}.out`),
        stderrFile: (name) => path.join(dir, `${name}.err`),
        transitions: [],
        async stop() {
          execFileSync(process.execPath, [pm2Bin!, 'kill'], { env, stdio: 'ignore' });
        },
      };
    },
  };
}

/**
 * A supervisor's own stdout as a container gives it: a pipe that the runtime (conmon,
 * containerd-shim) drains into its log file, here `cat`, not a file opened directly (a file never
 * fills; a pipe does, and how a writer waits for it to drain is part of what is measured). Once the
 * supervisor has its end, `handOver` closes ours, so `cat` ends when the supervisor does.
 */
function runtimeLog(file: string): { stdio: Writable; handOver(): void } {
  const cat = spawn('cat', [], { stdio: ['pipe', openSync(file, 'a'), 'ignore'] });
  return { stdio: cat.stdin!, handOver: () => cat.stdin!.destroy() };
}

/**
 * PM2's container mode: `pm2-runtime` runs PM2 in the foreground and prints every line of the apps'
 * output to its own stdout (raw, as written), besides the apps' log files: the like-for-like
 * comparison for infer-entry's default (log file + daemon log). Its stdout goes where the infer-entry
 * driver's daemon log goes (runtimeLog).
 */
export function pm2Runtime(pm2Bin: string | undefined): Tool {
  const runtimeBin = pm2Bin === undefined ? undefined : path.join(path.dirname(pm2Bin), 'pm2-runtime');
  return {
    name: 'pm2-runtime (container mode)',
    unavailable: () => (runtimeBin && existsSync(runtimeBin) ? null : PM2_MISSING),
    async start(instances, dir, fakeServer) {
      const eco = pm2Ecosystem(instances, dir, fakeServer);
      const out = runtimeLog(path.join(dir, 'pm2-runtime.out'));
      const child = spawn(process.execPath, [runtimeBin!, 'start', eco], { env: { ...process.env, PM2_HOME: path.join(dir, 'pm2-home') }, stdio: ['ignore', out.stdio, out.stdio] });
      out.handOver();
      return foreground(child, dir);
    },
  };
}
