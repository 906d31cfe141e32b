/**
 * zip: yauzl reads and validates the central directory; entry data is read
 * here straight from the local header's offset with large buffers and
 * inflated by node's zlib (yauzl's 16 KiB streams made zip installs ~2× slower
 * than unzip). yauzl hands a symlink over as an ordinary file, so the unix mode
 * in the external attributes decides what an entry is; a link's content is its
 * target. The whole central directory is checked before the first write, so
 * an encrypted, special or oversized entry is refused up front.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createInflateRaw, inflateRawSync } from "node:zlib";
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { PackageError } from '../errors.js';
import { hostile, safeEntryPath } from './entry-guard.js';
import type { OpenFile, TreeWriter } from './tree-writer.js';
import type { FeedHooks } from './extract-tar.js';
import { ZipBlockReader } from './zip-block-reader.js';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const LOCAL_HEADER = 0x04034b50;

type Kind = 'file' | 'dir' | 'symlink';

function classify(entry: Entry): { kind: Kind; mode: number } {
  const unix = entry.versionMadeBy >> 8 === 3;
  const attr = (entry.externalFileAttributes >>> 16) & 0xffff;
  const type = unix ? attr & S_IFMT : 0;
  if (entry.fileName.endsWith('/') || type === S_IFDIR) return { kind: 'dir', mode: unix && attr & 0o777 ? attr & 0o777 : 0o755 };
  if (type === S_IFLNK) return { kind: 'symlink', mode: 0o777 };
  if (type === 0 || type === S_IFREG) return { kind: 'file', mode: unix && attr & 0o777 ? attr & 0o777 : 0o644 };
  throw hostile('E_PKG_SPECIAL_FILE', entry.fileName, `is a special file (mode ${type.toString(8)}); device, FIFO and socket entries are not allowed`);
}

export interface OpenedZip {
  zip: ZipFile;
  entries: Entry[];
  /** The archive's small reads (headers, small entries), through the same block cache as the central directory's. */
  reader: ZipBlockReader;
}

export async function openZip(file: string): Promise<OpenedZip> {
  const handle = await open(file, 'r');
  let reader: ZipBlockReader;
  let zip: ZipFile;
  try {
    reader = new ZipBlockReader(handle, (await handle.stat()).size);
    zip = await promisify<yauzl.RandomAccessReader, number, yauzl.Options, ZipFile>(yauzl.fromRandomAccessReader)(reader, reader.size, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false });
  } catch (error) {
    await handle.close();
    throw corrupt(file, error);
  }
  // from here the handle is closed by zip.close()
  const entries: Entry[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: Entry) => {
        entries.push(entry);
        zip.readEntry();
      });
      zip.once('end', () => resolve());
      zip.once('error', reject);
      zip.readEntry();
    });
  } catch (error) {
    zip.close();
    throw corrupt(file, error);
  }
  return { zip, entries, reader };
}

/** Names, encryption, compression methods and entry types, all checked before the first write. Returns the declared uncompressed total. */
export function preflightZip(entries: Entry[]): number {
  let total = 0;
  const seen = new Map<string, { name: string; dir: boolean }>();
  for (const entry of entries) {
    const rel = safeEntryPath(entry.fileName);
    if (entry.isEncrypted()) throw hostile('E_PKG_ENCRYPTED', entry.fileName, 'is encrypted; encrypted zip entries are not supported');
    if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
      throw hostile('E_PKG_CORRUPT', entry.fileName, `uses zip compression method ${entry.compressionMethod}; only stored (0) and deflate (8) are supported`);
    }
    const { kind } = classify(entry);
    // Zip tools disagree on which of two same-named entries wins (first, last, or by local
    // header), so the installed tree would depend on the tool: refuse rather than guess.
    const earlier = seen.get(rel);
    if (earlier && !(earlier.dir && kind === 'dir')) {
      throw hostile('E_PKG_DUPLICATE_ENTRY', entry.fileName, `appears twice in the zip (also as ${JSON.stringify(earlier.name)}); which copy an unzip tool keeps differs between tools`);
    }
    seen.set(rel, { name: entry.fileName, dir: kind === 'dir' });
    total += entry.uncompressedSize;
  }
  return total;
}

const SMALL = 1024 * 1024;

/** Entry data: small entries in one read + one inflate call (per-entry streams cost ~1 ms each), large ones streamed. */
async function dataStream(file: string, reader: ZipBlockReader, entry: Entry): Promise<Iterable<Buffer> | AsyncIterable<Buffer> | Readable | null> {
  const header = await reader.readAt(entry.relativeOffsetOfLocalHeader, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== LOCAL_HEADER) throw corrupt(file, new Error('local file header not found'), entry.fileName);
  const start = entry.relativeOffsetOfLocalHeader + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (start + entry.compressedSize > reader.size) throw corrupt(file, new Error('entry data runs past the end of the file'), entry.fileName);
  if (entry.compressedSize === 0) return null;
  if (entry.compressedSize <= SMALL) {
    const buf = await reader.readAt(start, entry.compressedSize);
    if (buf.length !== entry.compressedSize) throw corrupt(file, new Error("short read"), entry.fileName);
    if (entry.compressionMethod === 0) return [buf];
    try {
      return [inflateRawSync(buf, { maxOutputLength: Math.max(entry.uncompressedSize, 1) + 1 })];
    } catch (error) {
      throw corrupt(file, error, entry.fileName);
    }
  }
  const raw = createReadStream(file, { start, end: start + entry.compressedSize - 1, highWaterMark: 1024 * 1024 });
  if (entry.compressionMethod === 0) return raw;
  const inflate = createInflateRaw({ chunkSize: 256 * 1024 });
  pipeline(raw, inflate, () => undefined);
  return inflate;
}

/**
 * Large entries inflated at once: zlib runs on libuv's thread pool (4 threads), so two or three
 * big libraries inflate in parallel where unzip does one after the other; a fourth would only
 * queue behind them and hold its buffers.
 */
const PARALLEL = 3;

/**
 * The largest PARALLEL entries first, then the rest in archive order: zip tools put a build's
 * libraries after its many small files, and creating those (~0.3 ms each, on the main thread)
 * kept the second core mostly idle before the libraries' inflation began. Kept in archive order
 * when an entry lies under another non-directory entry (a file or link of that name): only then
 * does the order of creation decide which of them is refused, and how. Duplicate names were
 * refused before (preflightZip). (An archive both hostile and corrupt may be refused for its
 * corruption where archive order would have named the hostile entry first: exit 65 either way.)
 */
function creationOrder(entries: Entry[]): Entry[] {
  const notDirs = new Set(entries.filter((e) => classify(e).kind !== 'dir').map((e) => safeEntryPath(e.fileName)));
  for (const entry of entries) {
    const rel = safeEntryPath(entry.fileName);
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) if (notDirs.has(rel.slice(0, i))) return entries;
  }
  const first = entries
    .filter((e) => e.compressedSize > SMALL && classify(e).kind === 'file')
    .sort((a, b) => b.compressedSize - a.compressedSize)
    .slice(0, PARALLEL);
  const early = new Set(first);
  return [...first, ...entries.filter((e) => !early.has(e))];
}

export async function extractZip(file: string, opened: OpenedZip, writer: TreeWriter, hooks: FeedHooks = {}): Promise<void> {
  const { zip, entries, reader } = opened;
  let consumed = 0;
  const done = async (entry: Entry): Promise<void> => {
    consumed += entry.compressedSize;
    if (hooks.afterChunk) await hooks.afterChunk(consumed);
  };
  const inFlight = new Set<Promise<void>>();
  const streams = new Set<Readable>();
  // the first entry that failed while others were read (a task's rejection is seen here at once)
  const failure: { error?: unknown } = {};
  try {
    for (const entry of creationOrder(entries)) {
      if ('error' in failure) throw failure.error;
      const { kind, mode } = classify(entry);
      if (kind === 'dir') {
        writer.dir(entry.fileName, mode);
        continue;
      }
      // a large entry waits for a free slot; small ones go on meanwhile
      if (entry.compressedSize > SMALL) while (inFlight.size >= PARALLEL) await Promise.race(inFlight);
      const stream = await dataStream(file, reader, entry);
      // tracked at once: a refused name below must not leave its file descriptor open
      if (stream && 'pipe' in stream) streams.add(stream);
      if (kind === 'symlink') {
        let size = 0;
        const parts: Buffer[] = [];
        for await (const chunk of stream ?? []) {
          size += (chunk as Buffer).length;
          if (size > 4096) throw hostile('E_PKG_BAD_LINK', entry.fileName, 'is a symlink whose target is longer than 4096 bytes');
          parts.push(chunk as Buffer);
        }
        if (stream && 'pipe' in stream) streams.delete(stream);
        writer.symlink(entry.fileName, Buffer.concat(parts).toString('utf8'));
        continue;
      }
      // created here, in archive order, whether or not its bytes come later
      const out = writer.openFile(entry.fileName, mode);
      if (!(stream && 'pipe' in stream)) {
        await fill(file, entry, stream, out, mode);
        await done(entry);
        continue;
      }
      const task: Promise<void> = fill(file, entry, stream, out, mode).then(() => {
        streams.delete(stream);
        inFlight.delete(task);
        return done(entry);
      });
      inFlight.add(task);
      task.catch((error: unknown) => {
        if (!('error' in failure)) failure.error = error;
      });
    }
    await Promise.all(inFlight);
  } catch (error) {
    // the first failure wins; the other entries stop and are waited for before their files close
    for (const stream of streams) stream.destroy();
    await Promise.allSettled(inFlight);
    throw error;
  } finally {
    writer.abort();
    zip.close();
  }
  writer.finish();
}

/** An entry's bytes into its file, checked against the declared size. */
async function fill(file: string, entry: Entry, stream: Iterable<Buffer> | AsyncIterable<Buffer> | Readable | null, out: OpenFile, mode: number): Promise<void> {
  let size = 0;
  try {
    for await (const chunk of stream ?? []) {
      size += (chunk as Buffer).length;
      if (size > entry.uncompressedSize) throw new Error(`more data than the declared ${entry.uncompressedSize} bytes`);
      out.write(chunk as Buffer);
    }
  } catch (error) {
    if (stream && 'destroy' in stream) stream.destroy();
    if (error instanceof Error && !('exitCode' in error) && !('syscall' in error)) throw corrupt(file, error, entry.fileName);
    throw error;
  }
  if (size !== entry.uncompressedSize) throw corrupt(file, new Error(`${size} bytes instead of the declared ${entry.uncompressedSize}`), entry.fileName);
  out.end(mode);
}

function corrupt(file: string, error: unknown, entry?: string): PackageError {
  const msg = error instanceof Error ? error.message : String(error);
  if (/absolute path|invalid relative path|invalid characters/.test(msg)) {
    return new PackageError('E_PKG_BAD_PATH', `archive ${file} has an entry with an unsafe name: ${msg}`, { hint: 'the archive is broken or hostile; rebuild it from a trusted llama.cpp build', cause: error });
  }
  const where = entry ? ` (entry ${JSON.stringify(entry)})` : '';
  return new PackageError('E_PKG_CORRUPT', `archive ${file} is corrupt or truncated${where}: ${msg}`, {
    hint: 'the copy or download was probably interrupted; provide the archive again',
    cause: error,
    details: entry ? { entry } : undefined,
  });
}
