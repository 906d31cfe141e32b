/** The marker `.installed-from.json` inside each release: what was installed, from where, and its manifest. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Paths } from '../paths.js';
import { MARKER_FILE, type InstalledMarker } from './types.js';

export async function readMarkerIn(tree: string): Promise<InstalledMarker | null> {
  try {
    const parsed = JSON.parse(await readFile(path.join(tree, MARKER_FILE), 'utf8')) as Partial<InstalledMarker>;
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.sha256 !== 'string') return null;
    return parsed as InstalledMarker;
  } catch {
    return null;
  }
}

/** The marker of the active install, or null. */
export async function readInstalledMarker(paths: Paths): Promise<InstalledMarker | null> {
  return readMarkerIn(paths.install);
}

export async function writeMarker(tree: string, marker: InstalledMarker): Promise<void> {
  await writeFile(path.join(tree, MARKER_FILE), `${JSON.stringify(marker, null, 1)}\n`, { mode: 0o644 });
}
