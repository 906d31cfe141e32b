/**
 * Which release `llama-cpp` points at, and the one recorded for rollback: read-only, so the
 * warm check (unchanged.ts) can ask without loading the code that switches releases (activate.ts).
 */
import { lstat, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Paths } from '../paths.js';

export const PREVIOUS_FILE = '.previous';
/**
 * The release boot makes when nothing is installed: only the convenience links, so the old
 * `…/llama-cpp/check-and-run-llama-cpp.sh` habit works without an install. It is never a rollback
 * target and is pruned as soon as a real install replaces it.
 */
export const LINKS_ONLY_RELEASE = 'links-only';
/** A release link being made by activate() (a killed run leaves it behind). */
export const TMP_LINK = /^\.llama-cpp\.tmp-\d+-[0-9a-f]+$/;

export type Active = { kind: 'release'; name: string } | { kind: 'legacy' } | { kind: 'foreign'; target: string } | null;

export async function readActive(paths: Paths): Promise<Active> {
  let st;
  try {
    st = await lstat(paths.install);
  } catch {
    return null;
  }
  if (st.isDirectory()) return { kind: 'legacy' };
  if (!st.isSymbolicLink()) return { kind: 'foreign', target: '' };
  const target = await readlink(paths.install);
  const abs = path.resolve(path.dirname(paths.install), target);
  if (path.dirname(abs) === paths.releases) return { kind: 'release', name: path.basename(abs) };
  return { kind: 'foreign', target };
}

export async function readPrevious(paths: Paths): Promise<string | null> {
  try {
    const name = (await readFile(path.join(paths.releases, PREVIOUS_FILE), 'utf8')).trim();
    return name === '' ? null : name;
  } catch {
    return null;
  }
}
