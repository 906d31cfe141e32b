/**
 * Every filesystem location the tool uses, derived from one root so tests run
 * against a temp directory (`INFER_ENTRY_ROOT`) and never touch /soft/app.
 */
import path from 'node:path';

export const DEFAULT_ROOT = '/soft/app';

export interface Paths {
  root: string;
  /** Cached copies of package archives. */
  cache: string;
  /** The install users see: a symlink to the active release (or a legacy real directory). */
  install: string;
  /** Release trees, one per archive sha256; `install` points at one of them. */
  releases: string;
  /** Control socket and pid files. */
  run: string;
  socket: string;
  /** Installer lock file. */
  installLock: string;
  /** Entry shims (check-and-run-llama-cpp.sh, ...) that the install's convenience links point at. */
  shims: string;
  /** The router's measured VRAM per instance (JSON; rewritten whole, atomically). */
  routerVram: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const root = path.resolve(env.INFER_ENTRY_ROOT && env.INFER_ENTRY_ROOT.trim() !== '' ? env.INFER_ENTRY_ROOT : DEFAULT_ROOT);
  const run = path.join(root, 'run');
  return {
    root,
    cache: path.join(root, 'cache'),
    install: path.join(root, 'llama-cpp'),
    releases: path.join(root, '.llama-cpp-releases'),
    run,
    socket: env.INFER_ENTRY_SOCKET && env.INFER_ENTRY_SOCKET.trim() !== '' ? path.resolve(env.INFER_ENTRY_SOCKET) : path.join(run, 'infer-entry.sock'),
    installLock: path.join(root, '.llama-cpp-install.lock'),
    routerVram: path.join(root, 'router-vram.json'),
    shims: env.INFER_ENTRY_SHIMS_DIR && env.INFER_ENTRY_SHIMS_DIR.trim() !== '' ? path.resolve(env.INFER_ENTRY_SHIMS_DIR) : path.join(root, 'shims'),
  };
}
