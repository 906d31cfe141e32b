/**
 * Rules an archive entry must follow before anything is written: names stay
 * inside the tree, links point inside the tree. Every refusal names the entry.
 */
import path from 'node:path';
import { PackageError } from '../errors.js';

const HINT = 'the archive is broken or hostile; rebuild it from a trusted llama.cpp build';

export function hostile(code: string, entry: string, why: string): PackageError {
  return new PackageError(code, `archive entry ${JSON.stringify(entry)} ${why}`, { hint: HINT, details: { entry } });
}

/** Linux NAME_MAX: longer path components fail with ENAMETOOLONG at write time. */
export const MAX_NAME_BYTES = 255;
/**
 * Linux PATH_MAX is 4096 for the whole absolute path; the staging and release
 * directories take some of it, so an entry gets what a deep install root leaves.
 */
export const MAX_PATH_BYTES = 3072;

/** Normalise an entry name to a relative POSIX path, or refuse it. '' means the archive root. */
export function safeEntryPath(name: string): string {
  if (name.includes('\0')) throw hostile('E_PKG_BAD_PATH', name, 'contains a NUL byte');
  const unified = name.replace(/\\/g, '/');
  if (unified.startsWith('/') || /^[A-Za-z]:\//.test(unified)) throw hostile('E_PKG_ABSOLUTE_PATH', name, 'has an absolute path');
  const parts = unified.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw hostile('E_PKG_PARENT_PATH', name, "contains '..' (would write outside the install tree)");
  const rel = parts.join('/');
  if (parts.some((p) => Buffer.byteLength(p) > MAX_NAME_BYTES)) throw hostile('E_PKG_NAME_TOO_LONG', shorten(name), `has a path component longer than ${MAX_NAME_BYTES} bytes, which no Linux filesystem can hold`);
  if (Buffer.byteLength(rel) > MAX_PATH_BYTES) throw hostile('E_PKG_NAME_TOO_LONG', shorten(name), `is a path longer than ${MAX_PATH_BYTES} bytes, more than the install tree can hold`);
  return rel;
}

/** Names in messages stay one readable line: a 4 KiB name is cut in the middle. */
export function shorten(name: string): string {
  return name.length <= 160 ? name : `${name.slice(0, 80)}…${name.slice(-60)} (${Buffer.byteLength(name)} bytes)`;
}

/**
 * Resolve the symlink at `linkPath` the way the kernel would, substituting
 * every other symlink of the tree on the way. Returns the relative path it
 * lands on, or null when it leaves the tree. Must run with the complete link
 * map, because a later entry can change what an earlier link resolves to.
 */
export function resolveInTree(linkPath: string, links: ReadonlyMap<string, string>): string | null {
  const stack = path.posix.dirname(linkPath).split('/').filter((p) => p !== '' && p !== '.');
  const first = links.get(linkPath);
  if (first === undefined) return linkPath;
  if (first.startsWith('/')) return null;
  let queue = first.split('/');
  let hops = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (stack.length === 0) return null;
      stack.pop();
      continue;
    }
    stack.push(part);
    const target = links.get(stack.join('/'));
    if (target !== undefined) {
      if (++hops > 40) return null;
      if (target.startsWith('/')) return null;
      stack.pop();
      queue = [...target.split('/'), ...queue];
    }
  }
  return stack.join('/');
}

/** Every symlink in the tree stays inside it; else the first offender is named. */
export function checkLinksStayInside(links: ReadonlyMap<string, string>): void {
  for (const [linkPath, target] of links) {
    if (resolveInTree(linkPath, links) === null) {
      throw hostile('E_PKG_LINK_OUTSIDE', linkPath, `is a symlink to ${JSON.stringify(target)}, which points outside the install tree (or loops)`);
    }
  }
}
