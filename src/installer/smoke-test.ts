/**
 * Step 6: refuse to activate a build that cannot start here (a missing .so, a
 * binary for another CPU or libc) — found now instead of when the first
 * instance crash-loops.
 *
 * node:child_process, not execa: execa's ~100 modules took 90-100 ms of the main thread to load,
 * during the extraction, whose pace the main thread sets (bench/README.md, install section).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PackageError } from '../errors.js';

export const SMOKE_TIMEOUT_MS = 10_000;
/** What is kept of its output (stdout and stderr, in the order they arrived). */
const OUTPUT_BYTES = 64 * 1024;
/** After it exits, how long a descendant that inherited its stdout or stderr may keep them open. */
const CLOSE_GRACE_MS = 200;

export function libraryPath(tree: string, inherited: string | undefined): string {
  const dirs = ['bin', 'lib', 'lib64'].map((d) => path.join(tree, d)).filter((d) => existsSync(d));
  if (inherited) dirs.push(inherited);
  return dirs.join(':');
}

interface Ran {
  output: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Set when it could not be started (ENOENT, EACCES, ENOEXEC...). */
  startError?: Error;
}

function run(file: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; signal?: AbortSignal }): Promise<Ran> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let timedOut = false;
    let startError: Error | undefined;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;
    const child = spawn(file, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], ...(o.signal ? { signal: o.signal, killSignal: 'SIGKILL' } : {}) });
    const keep = (chunk: Buffer): void => {
      if (kept >= OUTPUT_BYTES) return;
      chunks.push(chunk.subarray(0, OUTPUT_BYTES - kept));
      kept += Math.min(chunk.length, OUTPUT_BYTES - kept);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    let grace: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ output: Buffer.concat(chunks).toString('utf8'), exitCode: exited?.code ?? null, signal: exited?.signal ?? null, timedOut, startError });
    };
    child.on('error', (error) => {
      // a failed spawn, or the abort signal (which also kills it); 'close' follows only for a started child
      if (child.pid === undefined) startError = error;
      if (child.pid === undefined || exited) finish();
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      grace = setTimeout(finish, CLOSE_GRACE_MS);
    });
    child.on('close', finish);
  });
}

export async function smokeTest(tree: string, env: NodeJS.ProcessEnv, timeoutMs = SMOKE_TIMEOUT_MS, signal?: AbortSignal): Promise<string> {
  signal?.throwIfAborted();
  const server = path.join(tree, 'bin', 'llama-server');
  const result = await run(server, ['--version'], { cwd: tree, env: { ...env, LD_LIBRARY_PATH: libraryPath(tree, env.LD_LIBRARY_PATH) }, timeoutMs, signal });
  signal?.throwIfAborted();
  const out = result.output;
  if (result.exitCode === 0) return out.trim();
  const quoted = out.trim().split('\n').slice(-6).join(' | ').slice(0, 800) || '(no output)';
  const how = result.timedOut
    ? `did not finish within ${timeoutMs} ms`
    : result.startError
      ? `could not be started (${result.startError.message})`
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with status ${result.exitCode}`;
  throw new PackageError('E_PKG_SMOKE_TEST', `bin/llama-server --version ${how}: ${quoted}`, {
    hint: 'this build cannot run in this container (missing shared library, other CPU/libc, or a broken build); nothing was changed',
    details: { exitCode: result.exitCode ?? null, signal: result.signal ?? null, output: quoted },
  });
}

/** "version: 6123 (abc1234)" → "6123 (abc1234)". */
export function parseVersion(output: string): string | undefined {
  const m = /version:\s*(.+)/i.exec(output);
  return m ? m[1]!.trim() : output.split('\n')[0]?.trim() || undefined;
}
