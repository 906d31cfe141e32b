/**
 * Step 4: extract into a staging directory next to the releases (same
 * filesystem, so activation is a rename). Free space is checked before and
 * while writing; a full disk or an oversized archive stops and cleans up.
 */
import { open } from 'node:fs/promises';
import type { Logger } from 'pino';
import { errnoCode } from '../errors.js';
import { diskUsage, ensureFreeSpace, noSpaceError, writeFailure } from './disk.js';
import type { TarInput } from './extract-tar.js';
import { PackageError } from '../errors.js';
import { formatBytes } from './limits.js';
import { ENV } from '../env.js';
import { TreeWriter } from './tree-writer.js';
import type { ArchiveFormat, FreeBytesProbe } from './types.js';

const CHECK_EVERY = 32 * 1024 * 1024;

/** gzip's ISIZE trailer: uncompressed size mod 2^32 — a hint for the free-space check, never trusted for limits. */
async function gzipSizeHint(file: string, compressed: number): Promise<number> {
  const h = await open(file, 'r');
  try {
    const b = Buffer.alloc(4);
    await h.read(b, 0, 4, Math.max(0, compressed - 4));
    return Math.max(b.readUInt32LE(0), compressed);
  } finally {
    await h.close();
  }
}

export interface ExtractResult {
  entries: number;
  bytes: number;
  links: ReadonlyMap<string, string>;
}

export async function extractArchive(o: {
  file: string;
  size: number;
  format: ArchiveFormat;
  into: string;
  spaceDir: string;
  maxBytes: number;
  reserve: number;
  freeBytes: FreeBytesProbe;
  log: Logger;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** tar and tar.gz: the archive's bytes as the cache copy reads them, instead of reading `file` again. */
  stream?: TarInput;
}): Promise<ExtractResult> {
  const writer = new TreeWriter(o.into, { maxBytes: o.maxBytes });
  let estimate = o.format === 'tar' ? o.size : o.format === 'tar.gz' ? await gzipSizeHint(o.file, o.size) : 0;
  let nextCheck = CHECK_EVERY;
  let tarBytes = 0;
  const afterChunk = async (read: number, streamBytes?: number): Promise<void> => {
    if (streamBytes !== undefined) tarBytes = streamBytes;
    o.signal?.throwIfAborted();
    o.onProgress?.(read, o.size);
    if (writer.bytes < nextCheck) return;
    nextCheck = writer.bytes + CHECK_EVERY;
    const free = await o.freeBytes(o.spaceDir);
    if (free < o.reserve) throw noSpaceError(o.spaceDir, Math.max(estimate, writer.bytes) - writer.bytes + o.reserve, free, 'extract the package (stopped to keep the free-space reserve)');
  };
  try {
    // the readers (and tar, yauzl) are loaded only by a run that extracts, not by every warm boot
    if (o.format === 'zip') {
      const { extractZip, openZip, preflightZip } = await import('./extract-zip.js');
      const opened = await openZip(o.file);
      try {
        estimate = preflightZip(opened.entries);
      } catch (error) {
        opened.zip.close();
        throw error;
      }
      if (estimate > o.maxBytes) {
        opened.zip.close();
        throw new PackageError('E_PKG_TOO_BIG', `archive declares ${formatBytes(estimate)} of content, more than the limit of ${formatBytes(o.maxBytes)}`, {
          hint: `this looks like a decompression bomb; if the package is really that big, raise ${ENV.PKG_MAX_BYTES}`,
        });
      }
      try {
        await checkSpace(o, estimate);
      } catch (error) {
        opened.zip.close();
        throw error;
      }
      o.log.info({ phase: 'extract', entries: opened.entries.length, bytes: estimate }, `extracting ${opened.entries.length} zip entries`);
      await extractZip(o.file, opened, writer, { afterChunk });
    } else {
      await checkSpace(o, Math.min(estimate, o.maxBytes));
      o.log.info({ phase: 'extract', format: o.format }, `extracting the ${o.format} archive`);
      const { extractTar, extractTarStream } = await import('./extract-tar.js');
      const gzip = o.format === 'tar.gz';
      if (o.stream) await extractTarStream(o.stream, gzip, writer, { afterChunk });
      else await extractTar(o.file, gzip, writer, { afterChunk });
    }
  } catch (error) {
    writer.abort();
    const code = errnoCode(error);
    if (code === 'ENOSPC' || code === 'EDQUOT' || (error as { syscall?: string }).syscall !== undefined) {
      // Many small files take a whole block each, so the archive's size understates the space
      // needed: project what the part written so far really took onto the whole archive.
      // (tar's small files held in memory count as written: their tar bytes are in `done`)
      const used = (await diskUsage(o.into).catch(() => 0)) + writer.pendingDiskBytes;
      const done = o.format === 'zip' ? writer.bytes : tarBytes;
      const projected = done > 0 ? Math.ceil((used / done) * estimate) : 0;
      throw await writeFailure(error, o.freeBytes, o.spaceDir, Math.max(estimate, writer.bytes, projected) + o.reserve, 'extract the package');
    }
    throw error;
  }
  o.onProgress?.(o.size, o.size);
  return { entries: writer.entries, bytes: writer.bytes, links: writer.links };
}

async function checkSpace(o: { spaceDir: string; reserve: number; freeBytes: FreeBytesProbe }, needed: number): Promise<void> {
  await ensureFreeSpace(o.freeBytes, o.spaceDir, needed, o.reserve, 'extract the package');
}
