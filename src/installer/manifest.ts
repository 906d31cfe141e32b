/**
 * The manifest makes "already installed" cheap and honest: every extracted
 * entry with its kind, size, mode, mtime and link target, compared with lstat
 * only (no hashing), so a warm boot costs a stat of the archive plus one
 * lstat per entry.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { CONVENIENCE_LINKS, MARKER_FILE, type ManifestEntry } from './types.js';

const EXCLUDED_AT_ROOT = new Set([MARKER_FILE, ...Object.keys(CONVENIENCE_LINKS)]);

/**
 * Synchronous like firstDifference: the tree was just written, its inodes are cached, and one
 * lstat through the thread pool costs ~25× one made here (thousands of entries: ~100 ms of an
 * install's critical path against a few ms).
 */
export function buildManifest(tree: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  const walk = (rel: string): void => {
    const names = readdirSync(path.join(tree, rel)).sort();
    for (const name of names) {
      if (rel === '' && EXCLUDED_AT_ROOT.has(name)) continue;
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = path.join(tree, r);
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) out.push({ path: r, type: 'symlink', target: readlinkSync(abs) });
      else if (st.isDirectory()) {
        out.push({ path: r, type: 'dir', mode: st.mode & 0o7777 });
        walk(r);
      } else out.push({ path: r, type: 'file', size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
    }
  };
  walk('');
  return out;
}

/**
 * The first way the tree differs from the manifest, or null when it is intact. Synchronous on
 * purpose: thousands of lstat calls through the thread pool cost ~80 µs each, from the dentry
 * cache ~3 µs; the whole check blocks the event loop for a few milliseconds.
 */
export function firstDifference(tree: string, manifest: ManifestEntry[]): string | null {
  // the link to the active release is resolved once, not once per entry; manifest paths are
  // relative and normalised (buildManifest wrote them), so joining them is a concatenation
  let base: string;
  try {
    base = realpathSync(tree);
  } catch {
    return `${tree} is missing`;
  }
  for (const e of manifest) {
    const abs = `${base}/${e.path}`;
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return `${e.path} is missing`;
    if (e.type === 'symlink') {
      if (!st.isSymbolicLink()) return `${e.path} is no longer a symlink`;
      const target = readlinkSync(abs);
      if (target !== e.target) return `${e.path} points at ${target} instead of ${e.target}`;
    } else if (e.type === 'dir') {
      if (!st.isDirectory()) return `${e.path} is no longer a directory`;
      if ((st.mode & 0o7777) !== e.mode) return `${e.path} has mode ${(st.mode & 0o7777).toString(8)} instead of ${e.mode.toString(8)}`;
    } else {
      if (!st.isFile()) return `${e.path} is no longer a regular file`;
      if (st.size !== e.size) return `${e.path} has ${st.size} bytes instead of ${e.size}`;
      if ((st.mode & 0o7777) !== e.mode) return `${e.path} has mode ${(st.mode & 0o7777).toString(8)} instead of ${e.mode.toString(8)}`;
      if (st.mtimeMs !== e.mtimeMs) return `${e.path} was modified after the install`;
    }
  }
  return null;
}
