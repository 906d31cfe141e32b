/**
 * Real-process helpers for the boot / control / check-and-run / PID-1 integration tests:
 * a temp INFER_ENTRY_ROOT, the built CLI (dist/src/main.js), the fake llama-server, bounded waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const MAIN = path.join(REPO, 'dist/src/main.js');
export const FAKE_SERVER = path.join(REPO, 'test/fixtures/fake-llama-server.mjs');

export async function makeRoot(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function baseEnv(root: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: root,
    INFER_ENTRY_ROOT: root,
    INFER_ENTRY_LOG_FORMAT: 'json',
    INFER_ENTRY_LOG_LEVEL: 'debug',
    ...extra,
  };
}

export interface FakeInstance {
  name: string;
  port: number;
  enabled?: boolean;
  /** Extra [instance.NAME.server] lines, e.g. `fake_load_ms = 300`. */
  server?: string[];
  control?: string[];
}

/** An executable llama-server stand-in, a model file, and a TOML config naming them. */
export async function writeConfig(root: string, instances: FakeInstance[], file = 'instances.toml'): Promise<string> {
  const exe = path.join(root, 'llama-server');
  await fs.writeFile(exe, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FAKE_SERVER)} "$@"\n`, { mode: 0o755 });
  const model = path.join(root, 'model.gguf');
  const header = Buffer.alloc(64);
  header.write('GGUF', 0, 'latin1');
  header.writeUInt32LE(3, 4);
  await fs.writeFile(model, header);
  const lines = ['[master]', `llama_cpp_path = ${JSON.stringify(exe)}`, ''];
  for (const instance of instances) {
    const control = instance.control ?? [];
    lines.push(`[instance.${instance.name}.control]`, `enabled = ${instance.enabled ?? true}`, 'log_file = ""');
    if (!control.some((l) => l.startsWith('stop_grace_period'))) lines.push('stop_grace_period = "2s"');
    lines.push(...control, '');
    lines.push(`[instance.${instance.name}.server]`, `model = ${JSON.stringify(model)}`, 'host = "127.0.0.1"', `port = ${instance.port}`);
    lines.push(`fake_pid_file = ${JSON.stringify(path.join(root, 'pids'))}`, ...(instance.server ?? []), '');
  }
  const target = path.join(root, file);
  await fs.writeFile(target, lines.join('\n'));
  return target;
}

/** Pids of every fake server ever started in this root. */
export async function fakePids(root: string): Promise<number[]> {
  const text = await fs.readFile(path.join(root, 'pids'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is dead for our purposes.
  return !/\) Z /.test(readStat(pid));
}

function readStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface Running {
  child: ChildProcess;
  /** Everything written to stdout + stderr so far. */
  output(): string;
  /** Parsed JSON log lines (stdout and stderr). */
  logs(): { msg?: string; level?: number; [key: string]: unknown }[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, options: { stdin?: 'ignore' | 'pipe' } = {}): Running {
  const child = spawn(command, args, { env, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => text,
    logs: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l)];
          } catch {
            return [];
          }
        }),
    exit,
  };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): Running {
  return startProcess(process.execPath, [MAIN, ...args], env);
}

/** Run one CLI command to completion (bounded). */
export async function cli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Kill whatever a test left behind (bounded, never throws). */
export async function killAll(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** After a test: every process it started (daemons, CLIs, and their fake servers) killed, its root removed. */
export async function cleanUpRoot(root: string, running: readonly Running[]): Promise<void> {
  await killAll(running.map((r) => r.child.pid!).filter((pid) => alive(pid)));
  await killAll((await fakePids(root)).filter(alive));
  await fs.rm(root, { recursive: true, force: true });
}

/** Wait for an exit, SIGKILLing the process after the timeout so a broken test never hangs. */
export async function exitWithin(running: Running, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
  try {
    return await running.exit;
  } finally {
    clearTimeout(timer);
  }
}
