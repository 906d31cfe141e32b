/**
 * The shims the install's convenience links point at. The container image ships them in
 * INFER_ENTRY_SHIMS_DIR; anywhere else (a plain root, an image built without them) that directory
 * is empty and every link would dangle, so infer-entry writes its own. They call this very
 * infer-entry by absolute path (node + main.js), because a root without the image's shims usually
 * has no `infer-entry` on PATH either. A shim the image (or a person) put there is never touched;
 * one we wrote is rewritten when infer-entry has moved since (the marker line tells them apart).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Paths } from '../paths.js';

export const OWN_SHIM_MARKER = '# written by infer-entry: INFER_ENTRY_SHIMS_DIR had no such shim';

/** How a written shim starts infer-entry: `node main.js ARGS`. */
export interface CliEntry {
  node: string;
  main: string;
}

export function defaultCliEntry(): CliEntry {
  return { node: process.execPath, main: fileURLToPath(new URL('../main.js', import.meta.url)) };
}

/** Single-quoted for sh: safe for any path, spaces and quotes included. */
function sq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The same argument and exit-status semantics as the image's shims of the same name. */
export function ownShimTexts(entry: CliEntry): Record<string, string> {
  const exec = `exec ${sq(entry.node)} ${sq(entry.main)}`;
  const head = ['#!/bin/sh', OWN_SHIM_MARKER, '# (the container image provides its own; this one is rewritten when infer-entry moves).'];
  return {
    'check-and-run-llama-cpp.sh': [
      ...head,
      '# Start the llama-server instances of $AUTO_INFER_LLAMA_CPP_CONFIG (or of --config FILE; names select instances).',
      'set -eu',
      'if [ "$#" -eq 0 ] && [ -z "${AUTO_INFER_LLAMA_CPP_CONFIG:-}" ]; then',
      '  echo "check-and-run-llama-cpp: AUTO_INFER_LLAMA_CPP_CONFIG is not set; nothing to start (or pass --config FILE)" >&2',
      '  exit 0',
      'fi',
      `${exec} check-and-run "$@"`,
      '',
    ].join('\n'),
    'install-llama-cpp-pkg.sh': [
      ...head,
      '# Install the llama.cpp archive $AUTO_INFER_LLAMA_CPP_PKG_PATH (or the one given as first argument).',
      'set -eu',
      'if [ "$#" -ge 1 ] && [ "${1#-}" = "$1" ]; then',
      '  pkg=$1',
      '  shift',
      `  ${exec} install --pkg "$pkg" "$@"`,
      'fi',
      `${exec} install "$@"`,
      '',
    ].join('\n'),
  };
}

export interface ShimsResult {
  /** Shims written (or rewritten) now. */
  written: string[];
  /** Shims that were there and are kept as they are. */
  kept: string[];
}

/** Make sure every shim a convenience link needs resolves in paths.shims. Throws when the directory cannot be written. */
export async function ensureShims(paths: Paths, entry: CliEntry = defaultCliEntry()): Promise<ShimsResult> {
  const result: ShimsResult = { written: [], kept: [] };
  for (const [name, text] of Object.entries(ownShimTexts(entry))) {
    const file = path.join(paths.shims, name);
    // stat, not lstat: a link the image placed here counts only if it leads somewhere
    const present = await stat(file).then((s) => s.isFile(), () => false);
    if (present) {
      const current = await readFile(file, 'utf8').catch(() => '');
      if (!current.includes(OWN_SHIM_MARKER) || current === text) {
        result.kept.push(name);
        continue;
      }
    }
    await mkdir(paths.shims, { recursive: true });
    const tmp = path.join(paths.shims, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(tmp, text, { mode: 0o755 });
      await chmod(tmp, 0o755); // the umask must not leave it unexecutable
      await rename(tmp, file);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    result.written.push(name);
  }
  return result;
}
