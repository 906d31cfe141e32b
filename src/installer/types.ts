/**
 * Shapes shared by the installer's modules and the rest of the tool (boot,
 * status). The marker is JSON on disk; its first three fields are kept from the
 * infer-dev shell installer so old tooling that reads them keeps working.
 */
import type { Logger } from 'pino';
import type { Paths } from '../paths.js';

export type ArchiveFormat = 'tar' | 'tar.gz' | 'zip';

export const MARKER_FILE = '.installed-from.json';

/** Links created inside every release, pointing at the entry shims (they may dangle in tests). */
export const CONVENIENCE_LINKS: Record<string, string> = {
  'check-and-run-llama-cpp.sh': 'check-and-run-llama-cpp.sh',
  'install-llama-cpp-pkg.sh': 'install-llama-cpp-pkg.sh',
  'get-llama-cpp-pkg.sh': 'install-llama-cpp-pkg.sh',
};

export type ManifestEntry =
  | { path: string; type: 'file'; size: number; mode: number; mtimeMs: number }
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'symlink'; target: string };

export interface InstalledMarker {
  archive_name: string;
  sha256: string;
  installed_at_unix: number;
  size: number;
  source_path: string;
  format: ArchiveFormat;
  entries: number;
  bytes: number;
  installer_version: string;
  /** How long the install took up to writing the marker (boot reports it). */
  duration_ms: number;
  /** Release directory name under paths.releases. */
  release: string;
  /** Everything extracted, checked with lstat to decide whether a tree is intact. */
  manifest: ManifestEntry[];
}

export interface InstallOutcome {
  status: 'installed' | 'already-installed';
  sha256: string;
  archiveName: string;
  format: ArchiveFormat;
  /** Absolute path of the active release tree. */
  releaseDir: string;
  durationMs: number;
  entries: number;
  bytes: number;
  /** How the package was recognised: its identity was unchanged since it was hashed ('identity', not read), or it was hashed. */
  archiveCheck: 'identity' | 'sha256';
}

/** Free-space probe (injectable so tests can simulate a nearly full disk). */
export type FreeBytesProbe = (dir: string) => Promise<number>;

export interface InstallOptions {
  pkgPath: string;
  paths: Paths;
  log: Logger;
  force?: boolean;
  /** Hash the whole package even when its identity is unchanged since it was last hashed. */
  verify?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Tests: simulate the free space of a filesystem. */
  freeBytes?: FreeBytesProbe;
  /** Tests: free space an install must leave (default 64 MiB), so a small filesystem can really fill up. */
  reserveBytes?: number;
  /** Tests: how long to wait for another installer's lock (default 30 s). */
  lockWaitMs?: number;
  /** Tests: how old the package's timestamps must be before its identity is trusted (default 2 s). */
  racyMarginMs?: number;
  /** Tests: smoke-test timeout (default 10 s). */
  smokeTimeoutMs?: number;
  /** Byte progress callback; the CLI passes a TTY renderer. */
  onProgress?: (phase: string, done: number, total: number) => void;
}
