/**
 * Reference proxies run beside the router on the same upstream and load (bench/router.ts,
 * bench/router-protocols.ts), so that "the router costs X" can be read against what a proxy costs
 * at all on this machine: nginx (Debian's, if installed) and a bare Node TCP relay.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { freePort } from '../test/e2e/support/llama.js';

export interface ReferenceProxy {
  name: string;
  port: number;
  /** CPU time (user+sys) of every process of this proxy, ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** User+sys CPU time of one process in ms, and its RSS in MB, from /proc. */
export function procStats(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuMs: (ticks * 1000) / 100, rssMb: Number(rss?.[1] ?? NaN) / 1024 };
}

/** The processes whose parent is `pid` (nginx's workers; the upstream under the router's supervisor). */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function accepting(port: number, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing accepts on 127.0.0.1:${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));

/** The bare Node TCP relay (bench/tcp-relay.ts) in its own process, with the router's node flags. */
async function startTcpRelay(script: string, nodeArgs: string[], upstreamPort: number): Promise<ReferenceProxy> {
  const child = spawn(process.execPath, [...nodeArgs, script, String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve((JSON.parse(String(d)) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`tcp relay exited ${code}`)));
  });
  return {
    name: 'node TCP relay',
    port,
    cpuMs: () => procStats(child.pid!).cpuMs,
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

function nginxBinary(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', ...(process.env.PATH ?? '').split(':').map((dir) => path.join(dir, 'nginx'))]) if (existsSync(candidate)) return candidate;
  return undefined;
}

/**
 * nginx as a streaming reverse proxy, the way one is put in front of llama-server: no buffering
 * either way, HTTP/1.1 with a keep-alive pool upstream, 127.0.0.1 only, no access log. `workers`
 * is nginx's worker_processes (1: one event loop, as the router has). Undefined when nginx is not
 * installed.
 */
async function startNginx(upstreamPort: number, workers: string): Promise<ReferenceProxy | undefined> {
  const nginx = nginxBinary();
  if (!nginx) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-nginx-'));
  mkdirSync(path.join(dir, 'logs'));
  const port = await freePort();
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind}_temp_path ${path.join(dir, kind)};`);
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes ${workers};
error_log ${path.join(dir, 'error.log')} warn;
pid ${path.join(dir, 'nginx.pid')};
events { worker_connections 4096; }
http {
  access_log off;
  ${temp.join('\n  ')}
  upstream llama { server 127.0.0.1:${upstreamPort}; keepalive 512; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://llama;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`,
  );
  const args = ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'];
  const check = spawnSync(nginx, ['-t', ...args], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx -t: ${check.stderr}`);
  const master = spawn(nginx, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  await accepting(port);
  const workerPids = childrenOf(master.pid!);
  return {
    name: `nginx ${/nginx\/([\d.]+)/.exec(spawnSync(nginx, ['-v'], { encoding: 'utf8' }).stderr)?.[1] ?? ''} (worker_processes ${workers})`,
    port,
    cpuMs: () => [master.pid!, ...workerPids].reduce((sum, pid) => sum + procStats(pid).cpuMs, 0),
    stop: async () => {
      master.kill('SIGTERM');
      await exited(master);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const NGINX_MISSING = 'nginx: not installed, its rows are skipped (apt-get install -y nginx-light, Debian, then re-run)';

const RELAY = path.join(path.dirname(new URL(import.meta.url).pathname), 'tcp-relay.js');

/**
 * Every reference the machine has, beside a proxy under test on `upstreamPort` (BENCH_REFERENCES=0:
 * none; BENCH_NGINX_WORKERS: nginx's worker_processes, default 1). Says which is missing.
 */
export async function startReferences(upstreamPort: number, nodeArgs: string[]): Promise<ReferenceProxy[]> {
  const references: ReferenceProxy[] = [];
  if (process.env.BENCH_REFERENCES === '0') return references;
  const nginx = await startNginx(upstreamPort, process.env.BENCH_NGINX_WORKERS ?? '1');
  if (nginx) references.push(nginx);
  else console.log(NGINX_MISSING);
  references.push(await startTcpRelay(RELAY, nodeArgs, upstreamPort));
  return references;
}
