/**
 * The convenience links (`check-and-run-llama-cpp.sh`, `install-llama-cpp-pkg.sh`,
 * `get-llama-cpp-pkg.sh`) inside `$INFER_ENTRY_ROOT/llama-cpp`. Users of the shell-based image run
 * `/soft/app/llama-cpp/check-and-run-llama-cpp.sh` whether or not anything was installed (llama.cpp
 * may be baked into the image, on PATH, or named by llama_cpp_path), so every boot makes sure they
 * exist and resolve. With nothing installed, a tree holding only the links is built beside the
 * releases and switched in like any release (one rename), so `llama-cpp` is never a half-made tree
 * and a later install replaces it the same atomic way.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { isInferEntryError } from '../errors.js';
import { ensureStep } from '../log.js';
import type { Paths } from '../paths.js';
import { LINKS_ONLY_RELEASE, readActive } from './active.js';
import { activate, removeLeftovers } from './activate.js';
import { acquireInstallLock } from './lock.js';
import { ensureShims, type CliEntry } from './own-shims.js';
import { CONVENIENCE_LINKS } from './types.js';

/** How long boot waits for a running installer before leaving the links to it. */
const LOCK_WAIT_MS = 2_000;

/**
 * Links in `tree` to the shims. `replace`: every link is (re)made, for a fresh tree in staging;
 * otherwise only missing or dangling ones, each swapped in with one rename.
 */
export async function writeConvenienceLinks(tree: string, paths: Paths, o: { replace: boolean }): Promise<string[]> {
  const made: string[] = [];
  for (const [link, shim] of Object.entries(CONVENIENCE_LINKS)) {
    const at = path.join(tree, link);
    if (!o.replace && (await stat(at).then(() => true, () => false))) continue;
    if (o.replace) {
      await rm(at, { force: true, recursive: true });
      await symlink(path.join(paths.shims, shim), at);
    } else {
      const tmp = path.join(tree, `.${link}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
      await symlink(path.join(paths.shims, shim), tmp);
      await rename(tmp, at).catch(async (error: unknown) => {
        await rm(tmp, { force: true });
        throw error;
      });
    }
    made.push(link);
  }
  return made;
}

export type LinksOutcome =
  | { status: 'made'; tree: string; links: string[]; linksOnly: boolean }
  | { status: 'present'; tree: string }
  | { status: 'skipped'; reason: string };

/** Boot's links step. Never throws: a problem is a warning, the boot goes on. */
export async function ensureConvenienceLinks(o: { paths: Paths; log: Logger; entry?: CliEntry }): Promise<LinksOutcome> {
  const log = ensureStep(o.log, 'install');
  const { paths } = o;
  try {
    const shims = await ensureShims(paths, o.entry);
    if (shims.written.length > 0) log.info({ phase: 'links', shims: shims.written, dir: paths.shims }, `wrote the shims ${shims.written.join(', ')} into ${paths.shims}, which did not have them`);
  } catch (error) {
    const reason = `cannot write the shims into ${paths.shims}: ${(error as Error).message}`;
    log.warn({ phase: 'links' }, `${reason}; not making links that would dangle (set INFER_ENTRY_SHIMS_DIR to a writable directory)`);
    return { status: 'skipped', reason };
  }
  try {
    await mkdir(paths.releases, { recursive: true });
    const lock = await acquireInstallLock(paths.installLock, log, { waitMs: LOCK_WAIT_MS });
    try {
      return await underLock(paths, log);
    } finally {
      await lock.release();
    }
  } catch (error) {
    const reason = isInferEntryError(error) ? error.toUserString() : (error as Error).message;
    log.warn({ phase: 'links', code: isInferEntryError(error) ? error.code : undefined }, `could not make the convenience links in ${paths.install}: ${reason}`);
    return { status: 'skipped', reason };
  }
}

async function underLock(paths: Paths, log: Logger): Promise<LinksOutcome> {
  const active = await readActive(paths);
  if (active === null) {
    await removeLeftovers(paths, log);
    const staging = path.join(paths.releases, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging, { mode: 0o755 });
    try {
      const links = await writeConvenienceLinks(staging, paths, { replace: true });
      const tree = path.join(paths.releases, LINKS_ONLY_RELEASE);
      await rm(tree, { recursive: true, force: true });
      await rename(staging, tree);
      await activate(paths, LINKS_ONLY_RELEASE, log);
      log.info({ phase: 'links', tree, links }, `no llama.cpp install: ${paths.install} now holds only the convenience links (${links.join(', ')}); an install replaces it`);
      return { status: 'made', tree, links, linksOnly: true };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  if (active.kind === 'foreign') {
    // someone else's link (llama.cpp baked into the image, say): add the links if its target takes them
    const target = await stat(paths.install).catch(() => null);
    if (!target?.isDirectory()) {
      const reason = `${paths.install} is ${active.target ? `a link to ${active.target}, which is not a directory` : 'not a directory'}`;
      log.warn({ phase: 'links' }, `${reason}: no convenience links there`);
      return { status: 'skipped', reason };
    }
  }
  const tree = active.kind === 'release' ? path.join(paths.releases, active.name) : paths.install;
  if (!(await stat(tree).then((s) => s.isDirectory(), () => false))) {
    return { status: 'skipped', reason: `${tree} is not a directory` };
  }
  const links = await writeConvenienceLinks(tree, paths, { replace: false });
  if (links.length === 0) return { status: 'present', tree };
  log.info({ phase: 'links', tree, links }, `made the missing convenience links ${links.join(', ')} in ${paths.install}`);
  return { status: 'made', tree, links, linksOnly: false };
}
