/**
 * The sidecar beside each cached archive, and what a warm boot learns from it without reading
 * the package. Kept apart from the copy (cache.ts) so the warm check loads no hashing code.
 */
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { identityChanges, identityOf, isIdentity, type FileIdentity } from './identity.js';
import type { SourceInfo } from './source.js';

/**
 * Beside each cached archive: its sha256, bound to the cached file's identity, and the identity
 * of the package it was last hashed from. A warm boot whose package still has that identity
 * (see identity.ts for what that proves) reads neither the package nor the cached copy.
 */
export interface Sidecar {
  sha256: string;
  cache: FileIdentity;
  source?: { path: string; identity: FileIdentity };
}

export const sidecarPath = (cacheFile: string): string => path.join(path.dirname(cacheFile), `.${path.basename(cacheFile)}.sha256.json`);
export const isCacheTemp = (name: string): boolean => /\.tmp-\d+-[0-9a-f]+$/.test(name);

export async function readSidecarRaw(cacheFile: string): Promise<Sidecar | null> {
  try {
    const s = JSON.parse(await readFile(sidecarPath(cacheFile), 'utf8')) as Sidecar;
    return typeof s.sha256 === 'string' && isIdentity(s.cache) ? s : null;
  } catch {
    return null;
  }
}

export type Trusted = { sha256: string; file: string } | { sha256: null; reason: string };

/**
 * The package's sha256 without reading it: known when the package has exactly the identity it
 * had when it was last hashed (and that identity had settled). Otherwise why it must be read.
 */
export async function trustedDigest(source: SourceInfo, cacheDir: string): Promise<Trusted> {
  const file = path.join(cacheDir, source.name);
  const sidecar = await readSidecarRaw(file);
  if (!sidecar?.source || !isIdentity(sidecar.source.identity)) return { sha256: null, reason: 'no settled identity of the package is recorded' };
  const real = await realpath(source.path);
  if (sidecar.source.path !== real) return { sha256: null, reason: `the last hash was of ${sidecar.source.path}` };
  const changed = identityChanges(sidecar.source.identity, await identityOf(real));
  if (changed.length > 0) return { sha256: null, reason: `the package's ${changed.join(', ')} changed since it was last hashed` };
  return { sha256: sidecar.sha256, file };
}
