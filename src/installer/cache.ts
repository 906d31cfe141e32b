/**
 * Step 2: keep a copy of the archive in $ROOT/cache, hashed in the same pass
 * as the copy (and, for tar archives, extracted in that pass too). A cached
 * file is trusted only by content: its sha256 is stored in a sidecar together
 * with the cached file's identity and the identity of the package it was hashed
 * from, so a warm boot reads neither while the package is unchanged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, realpath, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsyncPaths } from './durable.js';
import type { Logger } from 'pino';
import { CannotCreateError, IoError, isInferEntryError } from '../errors.js';
import { identityChanges, identityOf, settled, type FileIdentity } from './identity.js';
import { readSidecarRaw, sidecarPath, type Sidecar } from './sidecar.js';
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
  /** The bytes also went through the `sink` (the package was copied). */
  fed: boolean;
  /** The package kept one settled identity while it was read: a second reader in that time saw the same bytes. */
  stable: boolean;
}

/** The sidecar, when the cached file is still the one it describes. */
async function readSidecar(cacheFile: string): Promise<Sidecar | null> {
  const [s, id] = await Promise.all([readSidecarRaw(cacheFile), identityOf(cacheFile).catch(() => null)]);
  return s && id && identityChanges(s.cache, id).length === 0 ? s : null;
}

async function writeSidecar(cacheFile: string, sha256: string, source: Sidecar['source']): Promise<void> {
  const body: Sidecar = { sha256, cache: await identityOf(cacheFile), ...(source ? { source } : {}) };
  const tmp = `${sidecarPath(cacheFile)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, JSON.stringify(body));
  await rename(tmp, sidecarPath(cacheFile));
}

export async function removeCached(cacheFile: string): Promise<void> {
  await rm(sidecarPath(cacheFile), { force: true });
  await rm(cacheFile, { force: true });
}

type Progress = (done: number, total: number) => void;

/** Where the package's bytes also go while it is copied: the extraction, so the package is read once for everything. */
export interface CopySink {
  /** false: the sink reads the package itself while it is copied (zip needs its central directory first). */
  takesBytes?: boolean;
  /** Resolves when the sink is done with the chunk, whose buffer is then read into again (and so paces the copy); rejects when the sink failed. */
  write(chunk: Buffer): Promise<void>;
  /** After the last chunk: resolves when the sink is done with everything. */
  end(): Promise<void>;
  /** The copy failed: stop the sink and wait for it. */
  abort(error: unknown): Promise<void>;
}

interface Pumped {
  sha256: string;
  identity: FileIdentity;
  /** The package's identity did not change while we read it and had settled before: worth recording. */
  settled: boolean;
}

/** Buffers the copy reads into: one being read, the others still being written (the cache file, the extraction). */
const RING = 3;

/** Read `file` once, hashing it and (when given) writing every byte to `out` and `sink`. Reads overlap writes. */
async function pump(file: string, total: number, out: FileHandle | null, progress: Progress | undefined, signal?: AbortSignal, sink?: CopySink, racyMarginMs?: number): Promise<Pumped> {
  const hash = createHash('sha256');
  const startedAt = Date.now();
  const before = await identityOf(file);
  const input = await open(file, 'r');
  try {
    // reused, not allocated per read: fresh 4 MiB buffers cost a page fault per 4 KiB and a V8 GC per ~64 MiB
    const bufs = Array.from({ length: RING }, () => Buffer.allocUnsafe(CHUNK));
    // a buffer is read into again only when everything its last chunk was written to is done with it
    const released: Promise<unknown>[] = bufs.map(() => Promise.resolve());
    const feeds = sink !== undefined && sink.takesBytes !== false;
    let done = 0;
    for (let i = 0; ; i++) {
      signal?.throwIfAborted();
      const slot = i % RING;
      await released[slot];
      const { bytesRead } = await input.read(bufs[slot]!, 0, CHUNK, null);
      if (bytesRead === 0) break;
      const chunk = bufs[slot]!.subarray(0, bytesRead);
      hash.update(chunk);
      const writes: Promise<unknown>[] = [];
      // at its offset: the writes of consecutive chunks may overlap
      if (out) writes.push(writeAll(out, chunk, done));
      if (feeds) writes.push(sink.write(chunk));
      released[slot] = Promise.all(writes);
      // awaited when the buffer comes round again; without a handler now, a failure meanwhile would be "unhandled"
      released[slot].catch(() => undefined);
      done += bytesRead;
      progress?.(done, total);
    }
    await Promise.all(released);
    const after = await identityOf(file);
    return { sha256: hash.digest('hex'), identity: after, settled: settled(before, after, startedAt, racyMarginMs) };
  } finally {
    await input.close();
  }
}

const sourceRecord = (real: string, p: Pumped): Sidecar['source'] => (p.settled ? { path: real, identity: p.identity } : undefined);

export async function cacheArchive(o: {
  source: SourceInfo;
  cacheDir: string;
  log: Logger;
  freeBytes: FreeBytesProbe;
  reserve: number;
  signal?: AbortSignal;
  onProgress?: Progress;
  /** Made only when the package is copied: it then receives every byte of the copy. */
  sink?: () => Promise<CopySink>;
  /** Tests: how old the package's timestamps must be for its identity to be recorded. */
  racyMarginMs?: number;
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
    const pumped = await pump(source.path, source.size, null, o.onProgress, o.signal, undefined, o.racyMarginMs);
    await writeSidecar(file, pumped.sha256, sourceRecord(real, pumped));
    return { file, sha256: pumped.sha256, copied: false, isSource: true, fed: false, stable: pumped.settled };
  }
  const known = await readSidecar(file);
  if (known && known.cache.size === String(source.size)) {
    log.info({ phase: 'cache', cache: file }, `hashing ${source.name} to compare it with the cached copy`);
    const pumped = await pump(source.path, source.size, null, o.onProgress, o.signal, undefined, o.racyMarginMs);
    if (pumped.sha256 === known.sha256) {
      log.info({ phase: 'cache', cache: file, sha256: pumped.sha256 }, 'cached copy has the same size and sha256; not copying');
      await writeSidecar(file, pumped.sha256, sourceRecord(real, pumped));
      return { file, sha256: pumped.sha256, copied: false, isSource: false, fed: false, stable: pumped.settled };
    }
    log.info({ phase: 'cache', cache: file, sha256: pumped.sha256, cachedSha256: known.sha256 }, 'cached copy has the same name but different content; replacing it');
  }
  await ensureFreeSpace(o.freeBytes, cacheDir, source.size, o.reserve, `cache ${source.name}`);
  log.info({ phase: 'cache', cache: file, bytes: source.size }, `copying ${source.name} to the cache and hashing it${o.sink ? ', extracting it from the same read' : ''}`);
  const tmp = path.join(cacheDir, `.${source.name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let out: FileHandle | undefined;
  let sink: CopySink | undefined;
  try {
    out = await open(tmp, 'wx', 0o644);
    sink = await o.sink?.();
    const pumped = await pump(source.path, source.size, out, o.onProgress, o.signal, sink, o.racyMarginMs);
    // the extraction finishes (in staging) while the copy is made durable
    const extracted = sink?.end();
    extracted?.catch(() => undefined);
    await out.sync();
    await out.close();
    out = undefined;
    const written = (await stat(tmp)).size;
    if (written !== source.size) {
      throw new IoError('E_PKG_CHANGED', `package ${source.path} changed size while being copied (${source.size} → ${written} bytes)`, { hint: 'wait until the archive is completely written, then retry' });
    }
    await extracted;
    sink = undefined;
    await rm(sidecarPath(file), { force: true });
    await rename(tmp, file);
    await fsyncPaths([cacheDir]);
    await writeSidecar(file, pumped.sha256, sourceRecord(real, pumped));
    return { file, sha256: pumped.sha256, copied: true, isSource: false, fed: o.sink !== undefined, stable: pumped.settled };
  } catch (error) {
    await sink?.abort(error).catch(() => undefined);
    await out?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (isInferEntryError(error) || (error as Error).name === 'AbortError') throw error;
    throw await writeFailure(error, o.freeBytes, cacheDir, source.size + o.reserve, `cache ${source.name}`);
  }
}

/** All of `chunk` at `position`: a short write (a disk nearly full) writes the rest, or fails, never leaves a hole. */
async function writeAll(out: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let at = 0;
  while (at < chunk.length) {
    const { bytesWritten } = await out.write(chunk, at, chunk.length - at, position + at);
    if (bytesWritten === 0) throw Object.assign(new Error('no byte written'), { code: 'ENOSPC' });
    at += bytesWritten;
  }
}
