/**
 * Step 6: refuse to activate a build that cannot start here (a missing .so, a
 * binary for another CPU or libc) — found now instead of when the first
 * instance crash-loops.
 */
import { execa } from 'execa';
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
  const result = await execa(server, ['--version'], {
    cwd: tree,
    env: { ...env, LD_LIBRARY_PATH: libraryPath(tree, env.LD_LIBRARY_PATH) },
    extendEnv: false,
    stdin: 'ignore',
    all: true,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    reject: false,
    ...(signal ? { cancelSignal: signal } : {}),
  });
  signal?.throwIfAborted();
  const out = (result.all ?? '').slice(0, 64 * 1024);
  if (result.exitCode === 0) return out.trim();
  const quoted = out.trim().split('\n').slice(-6).join(' | ').slice(0, 800) || '(no output)';
  const how = result.timedOut
    ? `did not finish within ${timeoutMs} ms`
    : result.signal
      ? `was killed by ${result.signal}`
      : result.exitCode === undefined
        ? `could not be started (${result.cause instanceof Error ? result.cause.message : result.shortMessage})`
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
