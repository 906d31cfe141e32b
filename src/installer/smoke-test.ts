/**
 * Step 6: refuse to activate a build that cannot start here (a missing .so, a
 * binary for another CPU or libc) — found now instead of when the first
 * instance crash-loops.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PackageError } from '../errors.js';

export const SMOKE_TIMEOUT_MS = 10_000;

export function libraryPath(tree: string, inherited: string | undefined): string {
  const dirs = ['bin', 'lib', 'lib64'].map((d) => path.join(tree, d)).filter((d) => existsSync(d));
  if (inherited) dirs.push(inherited);
  return dirs.join(':');
}

export async function smokeTest(tree: string, env: NodeJS.ProcessEnv, timeoutMs = SMOKE_TIMEOUT_MS, signal?: AbortSignal): Promise<string> {
  const server = path.join(tree, 'bin', 'llama-server');
  const child = spawn(server, ['--version'], {
    cwd: tree,
    env: { ...env, LD_LIBRARY_PATH: libraryPath(tree, env.LD_LIBRARY_PATH) },
    stdio: ['ignore', 'pipe', 'pipe'],
    signal,
  });
  let out = '';
  const take = (chunk: Buffer): void => {
    if (out.length < 64 * 1024) out += chunk.toString('utf8');
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const result = await new Promise<{ code: number | null; sig: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, sig: null, error }));
    child.once('close', (code, sig) => resolve({ code, sig }));
  }).finally(() => clearTimeout(timer));
  signal?.throwIfAborted();
  if (result.code === 0) return out.trim();
  const quoted = out.trim().split('\n').slice(-6).join(' | ').slice(0, 800) || '(no output)';
  const how = timedOut
    ? `did not finish within ${timeoutMs} ms`
    : result.error
      ? `could not be started (${result.error.message})`
      : result.sig
        ? `was killed by ${result.sig}`
        : `exited with status ${result.code}`;
  throw new PackageError('E_PKG_SMOKE_TEST', `bin/llama-server --version ${how}: ${quoted}`, {
    hint: 'this build cannot run in this container (missing shared library, other CPU/libc, or a broken build); nothing was changed',
    details: { exitCode: result.code, signal: result.sig, output: quoted },
  });
}

/** "version: 6123 (abc1234)" → "6123 (abc1234)". */
export function parseVersion(output: string): string | undefined {
  const m = /version:\s*(.+)/i.exec(output);
  return m ? m[1]!.trim() : output.split('\n')[0]?.trim() || undefined;
}
