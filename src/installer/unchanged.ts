/**
 * The warm boot's answer without the installer: the package still has the identity it had when
 * it was hashed, that hash is the active install's, the tree matches its manifest, and no other
 * run is busy or left anything to clean up. Read-only and conservative: whenever any of that is
 * not plainly so it answers null, and the full install (install.ts, under the lock) decides and
 * explains. It loads no logger, no hashing and no archive reader, so a container start whose
 * archive did not change costs little more than node's own start-up.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Paths } from '../paths.js';
import { PREVIOUS_FILE, TMP_LINK, readActive, readPrevious } from './active.js';
import { detectFormat, formatFromExtension } from './format.js';
import { formatBytes, parseMaxBytes } from './limits.js';
import { firstDifference } from './manifest.js';
import { readInstalledMarker } from './marker.js';
import { isCacheTemp, trustedDigest } from './sidecar.js';
import type { InstallOutcome } from './types.js';

/** A line the caller logs (at info, with the `install` step) once it has a logger. */
interface LogEvent {
  fields: Record<string, unknown>;
  msg: string;
}

export interface Unchanged {
  outcome: InstallOutcome;
  /** What the full install would have logged for the same answer. */
  events: LogEvent[];
}

export async function unchangedInstall(o: { pkgPath: string; paths: Paths; env?: NodeJS.ProcessEnv; started?: number }): Promise<Unchanged | null> {
  const started = o.started ?? Date.now();
  const { paths } = o;
  try {
    parseMaxBytes(o.env ?? process.env); // a bad limit is reported by the full install
    const file = path.resolve(o.pkgPath);
    const st = await stat(file);
    if (!st.isFile() || st.size === 0) return null;
    const format = await detectFormat(file);
    if (formatFromExtension(file) !== format) return null;
    const source = { path: file, name: path.basename(file), size: st.size, format };
    if (!(await quiet(paths))) return null;
    const marker = await readInstalledMarker(paths);
    if (!marker || !Array.isArray(marker.manifest)) return null;
    const trusted = await trustedDigest(source, paths.cache);
    if (trusted.sha256 === null || trusted.sha256 !== marker.sha256) return null;
    if (firstDifference(paths.install, marker.manifest) !== null) return null;
    const active = await readActive(paths);
    const releaseDir = active?.kind === 'release' ? path.join(paths.releases, active.name) : paths.install;
    const sha256 = marker.sha256;
    return {
      outcome: { status: 'already-installed', sha256, archiveName: source.name, format, releaseDir, durationMs: Date.now() - started, entries: marker.entries, bytes: marker.bytes, archiveCheck: 'identity' },
      events: [
        { fields: { phase: 'validate', pkg: o.pkgPath }, msg: checkingMessage(o.pkgPath) },
        { fields: { phase: 'validate', pkg: file, format, bytes: st.size }, msg: sourceMessage(format, st.size) },
        { fields: { phase: 'idempotency', sha256, release: releaseDir, check: 'identity' }, msg: alreadyInstalledMessage(source.name, sha256, 'identity') },
      ],
    };
  } catch {
    return null;
  }
}

export const checkingMessage = (pkgPath: string): string => `checking package ${pkgPath}`;
export const sourceMessage = (format: string, size: number): string => `package is a ${format} archive of ${formatBytes(size)}`;
export function alreadyInstalledMessage(name: string, sha256: string, how: 'identity' | 'sha256'): string {
  const why = how === 'identity' ? 'unchanged since it was hashed, not re-read' : 'sha256 matches';
  return `already installed: ${name} (sha256 ${sha256.slice(0, 12)}, ${why}) is active and intact`;
}

/**
 * Nothing for the full install to wait for or tidy: no lock is held, no killed run left a temp
 * link, a staging directory or a partial cache copy, and no release is there to be pruned.
 */
async function quiet(paths: Paths): Promise<boolean> {
  const lockName = path.basename(paths.installLock);
  const [root, releases, cache] = await Promise.all([paths.root, paths.releases, paths.cache].map((dir) => readdir(dir).catch(() => [] as string[])));
  if (root!.some((n) => n.startsWith(lockName) || TMP_LINK.test(n))) return false;
  if (cache!.some((n) => n.startsWith('.') && isCacheTemp(n))) return false;
  const active = await readActive(paths);
  const keep = new Set([PREVIOUS_FILE, active?.kind === 'release' ? active.name : '', (await readPrevious(paths)) ?? '']);
  return releases!.every((n) => keep.has(n));
}
