/**
 * Step 5: whatever the accepted layout, the release tree ends up with
 * bin/llama-server and its libraries beside it. Moves are renames inside the
 * staging directory, so normalising costs no copying.
 */
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { PackageError } from '../errors.js';
import { checkLinksStayInside, hostile } from './entry-guard.js';
import { lstatKind } from './tree-writer.js';

export interface Layout {
  /** Absolute path of the normalised tree (inside staging). */
  tree: string;
  /** Human name of the layout, for the log. */
  name: string;
}

const SERVER = 'llama-server';

/** `extracted` is staging/x; `staging` is its parent, where a wrapper directory can be made. */
export async function normaliseLayout(extracted: string, staging: string, links: ReadonlyMap<string, string>): Promise<Layout> {
  const has = (rel: string): boolean => lstatKind(path.join(extracted, rel)) !== null;
  const top = (await readdir(extracted, { withFileTypes: true })).filter((d) => d.name !== '__MACOSX');
  const single = top.length === 1 && top[0]!.isDirectory() ? top[0]!.name : null;

  let prefix: string;
  let wrapAsBin = false;
  let name: string;
  if (has(`bin/${SERVER}`)) [prefix, name] = ['', 'bin/ at the archive root'];
  else if (single && has(`${single}/bin/${SERVER}`)) [prefix, name] = [single, `${single}/bin/ (wrapper directory)`];
  else if (single && has(`${single}/build/bin/${SERVER}`)) [prefix, name] = [`${single}/build`, `${single}/build/bin/`];
  else if (has(`build/bin/${SERVER}`)) [prefix, name] = ['build', 'build/bin/ (older upstream zip)'];
  else if (single && has(`${single}/${SERVER}`)) [prefix, wrapAsBin, name] = [single, true, `${single}/ flat (upstream release)`];
  else if (has(SERVER)) [prefix, wrapAsBin, name] = ['', true, 'flat at the archive root'];
  else {
    throw new PackageError('E_PKG_NO_SERVER', 'archive has no llama-server (looked for bin/llama-server, <dir>/bin/llama-server, <dir>/llama-server and build/bin/llama-server)', {
      hint: 'package a llama.cpp build whose bin/ holds llama-server and its .so files; see README "Accepted archive layouts"',
    });
  }

  // Links are re-checked against the part we keep: a link that only stayed
  // inside the archive by pointing above the kept directory would dangle or escape.
  const base = prefix === '' ? '' : `${prefix}/`;
  const kept = new Map<string, string>();
  for (const [rel, target] of links) if (rel.startsWith(base)) kept.set(rel.slice(base.length), target);
  checkLinksStayInside(kept);

  let tree = path.join(extracted, prefix);
  if (wrapAsBin) {
    const wrapper = path.join(staging, 'tree');
    await mkdir(wrapper, { mode: 0o755 });
    await rename(tree, path.join(wrapper, 'bin'));
    tree = wrapper;
  }
  await checkServer(tree);
  return { tree, name };
}

/** bin/llama-server is (or resolves inside the tree to) a regular executable file. */
async function checkServer(tree: string): Promise<void> {
  const rel = `bin/${SERVER}`;
  const kind = lstatKind(path.join(tree, rel));
  let st;
  try {
    st = await stat(path.join(tree, rel));
  } catch {
    throw hostile('E_PKG_SERVER_DANGLING', rel, 'is a dangling symlink');
  }
  if (!st.isFile()) throw hostile('E_PKG_SERVER_NOT_FILE', rel, `is ${st.isDirectory() ? 'a directory' : 'not a regular file'}${kind === 'symlink' ? ' (through a symlink)' : ''}`);
  if ((st.mode & 0o111) === 0) throw hostile('E_PKG_SERVER_NOT_EXEC', rel, `is not executable (mode ${(st.mode & 0o777).toString(8)})`);
}
