/**
 * tar and tar.gz: node's zlib gunzips (so we know the exact tar length), and
 * node-tar's Parser splits entries. We write the entries ourselves
 * (TreeWriter) instead of using tar's Unpack, because Unpack silently strips
 * `..` and absolute paths where we must refuse the archive.
 */
import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { Gunzip } from 'node:zlib';
import { tarGunzip } from './tar-gunzip.js';
import { Parser, type ReadEntry } from 'tar';
import { PackageError } from '../errors.js';
import { hostile } from './entry-guard.js';
import type { TreeWriter } from './tree-writer.js';

/**
 * Tar bytes handed to the parser at a time. Small enough that the parse keeps pace with the writes:
 * the disk-full message projects the space needed from the tar bytes parsed when ENOSPC came.
 */
const CHUNK = 256 * 1024;
/** Held small files created between two looks at the input (~0.3 ms each). */
const PENDING_BATCH = 4;
/** One read of an archive file. */
const READ_BYTES = 1024 * 1024;

export interface FeedHooks {
  /** After every chunk: throw to stop (cancellation, free-space reserve). `readBytes`: archive bytes consumed; `streamBytes`: tar bytes parsed so far. */
  afterChunk?: (readBytes: number, streamBytes?: number) => Promise<void>;
}

export async function extractTar(file: string, gzip: boolean, writer: TreeWriter, hooks: FeedHooks = {}): Promise<void> {
  const source = createReadStream(file, { highWaterMark: READ_BYTES });
  try {
    await extractTarStream({ stream: source, label: file }, gzip, writer, hooks);
  } finally {
    source.destroy();
  }
}

/** The archive's bytes as they are read (by us, or by the cache copy that reads the package once for everything). */
export interface TarInput {
  /** The archive's bytes; for tar.gz also a Gunzip (from tarGunzip) the reader writes them into. */
  stream: Readable;
  /** The archive's name in messages. */
  label: string;
}

export async function extractTarStream(input: TarInput, gzip: boolean, writer: TreeWriter, hooks: FeedHooks = {}): Promise<void> {
  const file = input.label;
  // The ratio guard would refuse honest archives of sparse-ish data; the byte limit is our bomb guard.
  const parser = new Parser({ strict: true, maxDecompressionRatio: Number.POSITIVE_INFINITY, zstd: false, brotli: false });
  let failure: unknown = null;
  let onFailure: () => void = () => undefined;
  const failed = new Promise<void>((resolve) => (onFailure = resolve));
  const fail = (error: unknown): void => {
    failure ??= error;
    onFailure();
  };

  parser.on('entry', (entry: ReadEntry) => {
    if (failure) {
      entry.resume();
      return;
    }
    const mode = entry.mode ?? 0o644;
    try {
      switch (entry.type) {
        case 'Directory':
          writer.dir(entry.path, entry.mode ?? 0o755);
          entry.resume();
          return;
        case 'File':
        case 'OldFile':
        case 'ContiguousFile':
          writer.beginFile(entry.path, mode);
          entry.on('data', (chunk: Buffer) => {
            if (failure) return;
            try {
              writer.write(chunk);
            } catch (error) {
              fail(error);
            }
          });
          entry.on('end', () => {
            if (failure) return;
            try {
              writer.endFile(mode);
            } catch (error) {
              fail(error);
            }
          });
          return;
        case 'SymbolicLink':
          writer.symlink(entry.path, entry.linkpath ?? '');
          entry.resume();
          return;
        case 'Link':
          writer.hardlink(entry.path, entry.linkpath ?? '');
          entry.resume();
          return;
        case 'CharacterDevice':
        case 'BlockDevice':
        case 'FIFO':
          throw hostile('E_PKG_SPECIAL_FILE', entry.path, `is a ${entry.type} entry; device and FIFO entries are not allowed`);
        default:
          throw hostile('E_PKG_SPECIAL_FILE', entry.path, `has the unsupported tar entry type ${entry.type}`);
      }
    } catch (error) {
      fail(error);
      entry.resume();
    }
  });
  parser.on('error', (error: unknown) => fail(error));
  const ended = new Promise<void>((resolve) => {
    parser.on('end', () => resolve());
    parser.on('close', () => resolve());
  });

  const source = input.stream;
  // a gunzip of the caller's (the cache copy writes into it), or ours, fed from the stream
  const gunzip = gzip ? (source instanceof Gunzip ? source : tarGunzip()) : null;
  const stream = gunzip ?? source;
  if (gunzip && gunzip !== source) pipeline(source, gunzip, () => undefined);
  let tarBytes = 0;
  try {
    for await (const read of stream) {
      // a stream read may return everything buffered at once (16 MiB from the copy): parse it in
      // CHUNK slices, so progress, cancellation and the free-space check keep their pace
      for (let off = 0; off < (read as Buffer).length && !failure; off += CHUNK) {
        const chunk = (read as Buffer).subarray(off, off + CHUNK);
        tarBytes += chunk.length;
        if (!parser.write(chunk) && !failure) {
          await Promise.race([new Promise<void>((resolve) => parser.once('drain', resolve)), failed]);
        }
        if (hooks.afterChunk && !failure) await hooks.afterChunk(gunzip ? gunzip.bytesWritten : tarBytes, tarBytes).catch(fail);
      }
      if (failure) break;
      // Nothing to parse until the gunzip (or the copy) delivers more: create the held small
      // files meanwhile, a few at a time, looking again between them.
      while (writer.pending > 0 && stream.readableLength === 0 && !failure) {
        writer.writePending(PENDING_BATCH);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (!failure && tarBytes % 512 !== 0) {
      fail(new PackageError('E_PKG_CORRUPT', `archive ${file} is truncated: its tar data ends in the middle of a 512-byte block (${tarBytes} bytes)`, {
        hint: 'the copy or download was probably interrupted; provide the archive again',
      }));
    }
    if (!failure) {
      parser.end();
      await Promise.race([ended, failed]);
    }
  } catch (error) {
    fail(error);
  } finally {
    writer.abort();
    source.destroy();
    gunzip?.destroy();
  }
  if (failure) throw asPackageError(failure, file, writer.entries);
  writer.finish();
}

function asPackageError(error: unknown, file: string, entries: number): unknown {
  if (!(error instanceof Error) || 'exitCode' in error || error.name === 'AbortError') return error;
  const code = (error as { code?: string }).code ?? '';
  const msg = error.message;
  if (entries === 0 && /Unrecognized archive format/.test(msg)) {
    return new PackageError('E_PKG_EMPTY_ARCHIVE', `archive ${file} contains no entries (or is not a tar archive)`, { hint: 'provide a llama.cpp build archive with bin/llama-server', cause: error });
  }
  if (code.startsWith('TAR_') || code.startsWith('Z_') || /unexpected end of file|incorrect header|invalid/i.test(msg)) {
    return new PackageError('E_PKG_CORRUPT', `archive ${file} is corrupt or truncated: ${msg}`, { hint: 'the copy or download was probably interrupted; provide the archive again', cause: error });
  }
  return error;
}
