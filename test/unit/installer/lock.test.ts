import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireInstallLock, processStartTime } from '../../../src/installer/lock.js';
import { silentLogger } from '../../../src/log.js';

let dir: string;
let lock: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'infer-entry-lock-'));
  lock = path.join(dir, '.llama-cpp-install.lock');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function deadPid(): Promise<{ pid: number; start: string }> {
  const child = spawn('sleep', ['5']);
  const pid = child.pid!;
  const start = processStartTime(pid)!;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return { pid, start };
}

describe('installer lock', () => {
  it('a second acquirer waits, then fails with exit 75 naming the holder pid', async () => {
    const held = await acquireInstallLock(lock, silentLogger());
    const error = await acquireInstallLock(lock, silentLogger(), { waitMs: 300 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_LOCK_BUSY', exitCode: 75 });
    expect((error as Error).message).toContain(`pid ${process.pid}`);
    await held.release();
    const again = await acquireInstallLock(lock, silentLogger(), { waitMs: 300 });
    await again.release();
  });

  it('a waiter gets the lock as soon as the holder releases it', async () => {
    const held = await acquireInstallLock(lock, silentLogger());
    setTimeout(() => void held.release(), 200);
    const second = await acquireInstallLock(lock, silentLogger(), { waitMs: 5000 });
    await second.release();
  });

  it('recovers a stale lock left by a killed process', async () => {
    const dead = await deadPid();
    await writeFile(lock, JSON.stringify({ ...dead, since: Date.now() }));
    const handle = await acquireInstallLock(lock, silentLogger(), { waitMs: 300 });
    await handle.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('treats a lock with our own pid but another start time as stale (a restarted container is PID 1 again)', async () => {
    await writeFile(lock, JSON.stringify({ pid: process.pid, start: '1', since: Date.now() }));
    const handle = await acquireInstallLock(lock, silentLogger(), { waitMs: 300 });
    await handle.release();
  });

  it('only one of many concurrent acquirers holds the lock at a time', async () => {
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const h = await acquireInstallLock(lock, silentLogger(), { waitMs: 10_000 });
        inside++;
        max = Math.max(max, inside);
        await new Promise((r) => setTimeout(r, 20));
        inside--;
        await h.release();
      }),
    );
    expect(max).toBe(1);
  });

  it('a cancelled wait stops at once', async () => {
    const held = await acquireInstallLock(lock, silentLogger());
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(acquireInstallLock(lock, silentLogger(), { waitMs: 10_000, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await held.release();
  });
});
