/**
 * Step 9: `llama-cpp` is a symlink to `.llama-cpp-releases/<name>`. A new
 * link is made under a temp name and rename()d over the old one, which is
 * atomic: a reader resolves either the old tree or the new one. The only gap
 * is the one-time migration of a legacy real directory (see migrateLegacy).
 */
import { randomBytes } from 'node:crypto';
import { lstat, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Paths } from '../paths.js';
import { fsyncPaths } from './durable.js';
import { LINKS_ONLY_RELEASE, PREVIOUS_FILE, TMP_LINK, readActive, readPrevious } from './active.js';
import { isCacheTemp } from './sidecar.js';
import { processStartTime } from './lock.js';
import { readMarkerIn } from './marker.js';

async function writePrevious(paths: Paths, name: string): Promise<void> {
  const tmp = path.join(paths.releases, `${PREVIOUS_FILE}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await writeFile(tmp, `${name}\n`);
  await rename(tmp, path.join(paths.releases, PREVIOUS_FILE));
}

/**
 * A real directory at paths.install (installed by the old shell script) is
 * moved into the releases directory, then the link is renamed into its place:
 * two rename(2) calls back to back, so for that instant (microseconds, once per
 * machine) the path does not exist. Node has no renameat2(RENAME_EXCHANGE),
 * which would close it. A crash between the two leaves the old tree intact
 * under `.llama-cpp-releases/legacy-*`, and the next run activates normally.
 */
async function migrateLegacy(paths: Paths, tmpLink: string, log: Logger): Promise<string> {
  const name = `legacy-${Date.now()}`;
  // recorded first, so a crash right after the moves cannot let pruning delete the old tree
  await writePrevious(paths, name);
  await rename(paths.install, path.join(paths.releases, name));
  await rename(tmpLink, paths.install);
  log.info({ phase: 'activate', moved: name }, `moved the previous install (a real directory) to ${path.join(paths.releases, name)}`);
  return name;
}

/** Point paths.install at releases/<name>. Returns the release that was active before (kept for rollback). */
export async function activate(paths: Paths, name: string, log: Logger): Promise<string | null> {
  const before = await readActive(paths);
  const tmpLink = path.join(paths.root, `.llama-cpp.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(path.join(path.basename(paths.releases), name), tmpLink);
  let previous: string | null = null;
  try {
    if (before?.kind === 'release') {
      // the links-only tree is nothing to go back to
      if (before.name !== LINKS_ONLY_RELEASE) previous = before.name;
      if (previous !== null && previous !== name) await writePrevious(paths, previous);
      await rename(tmpLink, paths.install);
    } else if (before?.kind === 'legacy') {
      previous = await migrateLegacy(paths, tmpLink, log);
    } else {
      // nothing active: a crash between the two renames of a migration leaves the old tree as legacy-*
      const orphan = (await readdir(paths.releases)).filter((n) => n.startsWith('legacy-')).sort().pop();
      if (orphan) {
        previous = orphan;
        await writePrevious(paths, orphan);
      }
      if (before?.kind === 'foreign') log.warn({ phase: 'activate', target: before.target }, `replacing ${paths.install}, which was not an infer-entry release link`);
      await rename(tmpLink, paths.install);
    }
  } catch (error) {
    await rm(tmpLink, { force: true });
    throw error;
  }
  await fsyncPaths([paths.root]).catch(() => undefined);
  return previous === name ? null : previous;
}

/** Delete releases other than the active and the previous one, and every leftover of killed runs. */
export async function pruneReleases(paths: Paths, log: Logger): Promise<string[]> {
  const active = await readActive(paths);
  const keep = new Set<string>([PREVIOUS_FILE]);
  if (active?.kind === 'release') keep.add(active.name);
  const previous = await readPrevious(paths);
  if (previous) keep.add(previous);
  const removed: string[] = [];
  for (const name of await readdir(paths.releases).catch(() => [] as string[])) {
    if (keep.has(name)) continue;
    await rm(path.join(paths.releases, name), { recursive: true, force: true });
    removed.push(name);
  }
  if (removed.length > 0) log.info({ phase: 'cleanup', removed }, `removed ${removed.length} old release(s) and leftovers`);
  return removed;
}

/** Before starting: temp links, staging dirs and partial cache copies of killed runs (we hold the lock). */
export async function removeLeftovers(paths: Paths, log: Logger): Promise<void> {
  const removed: string[] = [];
  for (const name of await readdir(paths.root).catch(() => [] as string[])) {
    const lockTmp = new RegExp(`^${escape(path.basename(paths.installLock))}\\.(\\d+)-[0-9a-f]+$`).exec(name);
    const guardOf = name === `${path.basename(paths.installLock)}.recover` ? Number(await readFile(path.join(paths.root, name), 'utf8').catch(() => '0')) : null;
    const deadGuard = guardOf !== null && (!Number.isInteger(guardOf) || guardOf <= 0 || processStartTime(guardOf) === null);
    if (TMP_LINK.test(name) || deadGuard || (lockTmp && processStartTime(Number(lockTmp[1])) === null)) {
      await rm(path.join(paths.root, name), { force: true });
      removed.push(name);
    }
  }
  for (const name of await readdir(paths.releases).catch(() => [] as string[])) {
    if (name.startsWith('.staging-') || name.startsWith(`${PREVIOUS_FILE}.tmp-`)) {
      await rm(path.join(paths.releases, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  for (const name of await readdir(paths.cache).catch(() => [] as string[])) {
    if (name.startsWith('.') && isCacheTemp(name)) {
      await rm(path.join(paths.cache, name), { force: true });
      removed.push(name);
    }
  }
  if (removed.length > 0) log.info({ phase: 'cleanup', removed }, `removed ${removed.length} leftover(s) of an interrupted install`);
}

/** The release `rollback` would activate: the recorded previous one, else the newest other release. */
export async function rollbackTarget(paths: Paths): Promise<string | null> {
  const active = await readActive(paths);
  const activeName = active?.kind === 'release' ? active.name : null;
  const previous = await readPrevious(paths);
  if (previous && previous !== activeName && previous !== LINKS_ONLY_RELEASE && (await lstat(path.join(paths.releases, previous)).catch(() => null))?.isDirectory()) return previous;
  let best: { name: string; at: number } | null = null;
  for (const name of await readdir(paths.releases).catch(() => [] as string[])) {
    if (name.startsWith('.') || name === activeName || name === LINKS_ONLY_RELEASE) continue;
    const marker = await readMarkerIn(path.join(paths.releases, name));
    const at = marker?.installed_at_unix ?? 0;
    if (!best || at > best.at) best = { name, at };
  }
  return best?.name ?? null;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
