/**
 * Step 2: keep a copy of the archive in $ROOT/cache, hashed in the same pass
 * as the copy. A cached file is trusted only by content: its sha256 is stored
 * in a sidecar together with the file's identity (inode, size, mtime, ctime), so
 * a warm boot reads the source once and the cached copy not at all.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { CannotCreateError, IoError } from '../errors.js';
import { ensureFreeSpace, writeFailure } from './disk.js';
import type { SourceInfo } from './source.js';
import type { FreeBytesProbe } from './types.js';

const CHUNK = 4 * 1024 * 1024;

export interface CacheResult {
  file: string;
  sha256: string;
  copied: boolean;
  /** The package the user pointed at IS the cache file: never delete it, whatever happens. */
  isSource: boolean;
}

interface Sidecar {
  sha256: string;
  size: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
}

export const sidecarPath = (cacheFile: string): string => path.join(path.dirname(cacheFile), `.${path.basename(cacheFile)}.sha256.json`);
export const isCacheTemp = (name: string): boolean => /\.tmp-\d+-[0-9a-f]+$/.test(name);

async function readSidecar(cacheFile: string): Promise<Sidecar | null> {
  try {
    const [raw, st] = await Promise.all([readFile(sidecarPath(cacheFile), 'utf8'), stat(cacheFile)]);
    const s = JSON.parse(raw) as Sidecar;
    const same = s.size === st.size && s.ino === st.ino && s.mtimeMs === st.mtimeMs && s.ctimeMs === st.ctimeMs;
    return same && typeof s.sha256 === 'string' ? s : null;
  } catch {
    return null;
  }
}

async function writeSidecar(cacheFile: string, sha256: string): Promise<void> {
  const st = await stat(cacheFile);
  const body: Sidecar = { sha256, size: st.size, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  const tmp = `${sidecarPath(cacheFile)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, JSON.stringify(body));
  await rename(tmp, sidecarPath(cacheFile));
}

export async function removeCached(cacheFile: string): Promise<void> {
  await rm(sidecarPath(cacheFile), { force: true });
  await rm(cacheFile, { force: true });
}

type Progress = (done: number, total: number) => void;

/** Read `file` once, hashing it and (when `out` is given) writing every byte to `out`. Reads overlap writes. */
async function pump(file: string, total: number, out: FileHandle | null, progress: Progress | undefined, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const input = await open(file, 'r');
  try {
    let bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let done = 0;
    let pendingWrite: Promise<unknown> = Promise.resolve();
    for (let i = 0; ; i++) {
      signal?.throwIfAborted();
      const buf = bufs[i % 2]!;
      const { bytesRead } = await input.read(buf, 0, CHUNK, null);
      await pendingWrite;
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      if (out) {
        pendingWrite = out.write(chunk, 0, bytesRead);
        // awaited on the next turn; without a handler now, a failure while we read would be "unhandled"
        pendingWrite.catch(() => undefined);
      }
      done += bytesRead;
      progress?.(done, total);
    }
    bufs = [];
    return hash.digest('hex');
  } finally {
    await input.close();
  }
}

export async function cacheArchive(o: {
  source: SourceInfo;
  cacheDir: string;
  log: Logger;
  freeBytes: FreeBytesProbe;
  reserve: number;
  signal?: AbortSignal;
  onProgress?: Progress;
}): Promise<CacheResult> {
  const { source, cacheDir, log } = o;
  try {
    await mkdir(cacheDir, { recursive: true });
  } catch (error) {
    throw new CannotCreateError('E_CACHE_DIR', `cannot create the cache directory ${cacheDir}: ${(error as Error).message}`, { hint: 'check INFER_ENTRY_ROOT and its permissions', cause: error });
  }
  const file = path.join(cacheDir, source.name);
  const real = await realpath(source.path);
  const sameFile = await realpath(file).then((p) => p === real, () => false);
  if (sameFile) {
    log.info({ phase: 'cache', cache: file }, 'package is the cached copy itself; hashing it');
    const sha256 = await pump(source.path, source.size, null, o.onProgress, o.signal);
    await writeSidecar(file, sha256);
    return { file, sha256, copied: false, isSource: true };
  }
  const known = await readSidecar(file);
  if (known && known.size === source.size) {
    log.info({ phase: 'cache', cache: file }, `hashing ${source.name} to compare it with the cached copy`);
    const sha256 = await pump(source.path, source.size, null, o.onProgress, o.signal);
    if (sha256 === known.sha256) {
      log.info({ phase: 'cache', cache: file, sha256 }, 'cached copy has the same size and sha256; not copying');
      return { file, sha256, copied: false, isSource: false };
    }
    log.info({ phase: 'cache', cache: file, sha256, cachedSha256: known.sha256 }, 'cached copy has the same name but different content; replacing it');
  }
  await ensureFreeSpace(o.freeBytes, cacheDir, source.size, o.reserve, `cache ${source.name}`);
  log.info({ phase: 'cache', cache: file, bytes: source.size }, `copying ${source.name} to the cache and hashing it`);
  const tmp = path.join(cacheDir, `.${source.name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let out: FileHandle | undefined;
  try {
    out = await open(tmp, 'wx', 0o644);
    const sha256 = await pump(source.path, source.size, out, o.onProgress, o.signal);
    await out.sync();
    await out.close();
    out = undefined;
    const written = (await stat(tmp)).size;
    if (written !== source.size) {
      throw new IoError('E_PKG_CHANGED', `package ${source.path} changed size while being copied (${source.size} → ${written} bytes)`, { hint: 'wait until the archive is completely written, then retry' });
    }
    await rm(sidecarPath(file), { force: true });
    await rename(tmp, file);
    await fsyncDir(cacheDir);
    await writeSidecar(file, sha256);
    return { file, sha256, copied: true, isSource: false };
  } catch (error) {
    await out?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (error instanceof IoError || (error as Error).name === 'AbortError') throw error;
    throw await writeFailure(error, o.freeBytes, cacheDir, source.size + o.reserve, `cache ${source.name}`);
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}
