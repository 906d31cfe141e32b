/**
 * One installer at a time. The lock file holds the owner's pid and its start
 * time from /proc, so a lock left by a killed process is recognised even when
 * its pid was reused (in a restarted container the new PID 1 has the old pid).
 * Recovery of a stale lock is itself guarded, so two waiters cannot both
 * "recover" and then both own the lock.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { CannotCreateError, TempFailError, errnoCode } from '../errors.js';
import { statfsFreeBytes, writeFailure } from './disk.js';

export const LOCK_WAIT_MS = 30_000;
const POLL_MS = 100;

interface Owner {
  pid: number;
  start: string;
  since: number;
}

export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may contain spaces and parentheses: fields restart after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(owner: Owner): boolean {
  const start = processStartTime(owner.pid);
  return start !== null && start === owner.start;
}

async function readOwner(file: string): Promise<Owner | null> {
  try {
    const o = JSON.parse(await readFile(file, 'utf8')) as Owner;
    return typeof o.pid === 'number' ? o : null;
  } catch {
    return null;
  }
}

export interface LockHandle {
  release(): Promise<void>;
}

async function tryCreate(file: string, body: string): Promise<boolean> {
  // write then link(): the lock appears atomically with its content, never empty
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, body);
    await link(tmp, file);
    return true;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EEXIST') return false;
    // a full disk is the usual reason a lock cannot be written: say so (74), not "internal error"
    if (code === 'ENOSPC' || code === 'EDQUOT') throw await writeFailure(error, statfsFreeBytes, path.dirname(file), 4096, 'create the installer lock');
    throw new CannotCreateError('E_LOCK_CREATE', `cannot create the installer lock ${file}: ${(error as Error).message}`, { hint: 'check INFER_ENTRY_ROOT and its permissions', cause: error });
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Remove the lock if its owner is dead; the `.recover` guard makes this single-winner. */
async function recoverStale(file: string, owner: Owner, log: Logger): Promise<void> {
  const guard = `${file}.recover`;
  const guardStat = await stat(guard).catch(() => null);
  if (guardStat && Date.now() - guardStat.mtimeMs > 10_000) await rm(guard, { force: true });
  if (!(await tryCreate(guard, String(process.pid)))) return;
  try {
    const again = await readOwner(file);
    if (again && again.pid === owner.pid && again.start === owner.start && !alive(again)) {
      log.warn({ lock: file, pid: owner.pid }, `removing a stale installer lock left by pid ${owner.pid}, which is no longer running`);
      await rm(file, { force: true });
    }
  } finally {
    await rm(guard, { force: true });
  }
}

export async function acquireInstallLock(file: string, log: Logger, o: { waitMs?: number; signal?: AbortSignal } = {}): Promise<LockHandle> {
  const me: Owner = { pid: process.pid, start: processStartTime(process.pid) ?? String(Date.now()), since: Date.now() };
  const body = JSON.stringify(me);
  const deadline = Date.now() + (o.waitMs ?? LOCK_WAIT_MS);
  let announced = false;
  for (;;) {
    o.signal?.throwIfAborted();
    if (await tryCreate(file, body)) {
      return {
        release: async () => {
          const cur = await readOwner(file);
          if (cur && cur.pid === me.pid && cur.start === me.start) await rm(file, { force: true });
        },
      };
    }
    const owner = await readOwner(file);
    if (owner && !alive(owner)) {
      await recoverStale(file, owner, log);
      continue;
    }
    if (owner === null) {
      // unreadable: a lock of an older format or a half-written one; give it a moment, then treat as stale
      const st = await stat(file).catch(() => null);
      if (st && Date.now() - st.mtimeMs > 5_000) await rm(file, { force: true });
    }
    if (Date.now() >= deadline) {
      const who = owner ? `pid ${owner.pid}, holding it since ${new Date(owner.since).toISOString()}` : 'an unknown process';
      throw new TempFailError('E_LOCK_BUSY', `another installer (${who}) holds the lock ${file}`, {
        hint: 'wait for it to finish and retry; if no installer is running, remove the lock file',
        details: { lock: file, pid: owner?.pid },
      });
    }
    if (!announced) {
      log.info({ lock: file, pid: owner?.pid }, `waiting for another installer (pid ${owner?.pid ?? '?'}) to finish`);
      announced = true;
    }
    await sleep(POLL_MS, undefined, { signal: o.signal });
  }
}
