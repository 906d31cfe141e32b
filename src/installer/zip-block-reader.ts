/**
 * A zip's small reads served from 1 MiB blocks. yauzl reads every central-directory record with
 * two reads, and the extractor every entry's local header and (small entries) its data: read one
 * by one through libuv's pool, a 1,500-entry archive took ~3,000 round trips, each queued behind
 * the cache copy's 4 MiB reads (bench/README.md, install section, "Fourth pass"). Here each block
 * is read once; the central directory is one or two of them.
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';

const BLOCK = 1024 * 1024;
/** Blocks kept: the central directory's, and the one the entries are read from. */
const KEEP = 4;

export class ZipBlockReader extends yauzl.RandomAccessReader {
  private readonly blocks = new Map<number, Promise<Buffer>>();

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {
    super();
  }

  /** `length` bytes at `position` (fewer at the end of the file). The buffer may be shared with the cache: do not modify it. */
  async readAt(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.size);
    if (end <= position) return Buffer.alloc(0);
    const first = Math.floor(position / BLOCK);
    const last = Math.floor((end - 1) / BLOCK);
    if (first === last) return (await this.block(first)).subarray(position - first * BLOCK, end - first * BLOCK);
    const out = Buffer.allocUnsafe(end - position);
    let copied = 0;
    for (let b = first; b <= last; b++) {
      const data = await this.block(b);
      const from = Math.max(position, b * BLOCK);
      const to = Math.min(end, b * BLOCK + data.length);
      if (to > from) copied += data.copy(out, from - position, from - b * BLOCK, to - b * BLOCK);
      // A short block (the file shrank since it was opened): what follows it was not read.
      if (b * BLOCK + data.length < Math.min(end, (b + 1) * BLOCK)) break;
    }
    return out.subarray(0, copied);
  }

  private block(index: number): Promise<Buffer> {
    let data = this.blocks.get(index);
    if (data) {
      // most recently used last
      this.blocks.delete(index);
      this.blocks.set(index, data);
      return data;
    }
    data = (async () => {
      const buf = Buffer.allocUnsafe(Math.min(BLOCK, this.size - index * BLOCK));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await this.handle.read(buf, got, buf.length - got, index * BLOCK + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    })();
    // a failed read is not cached: the caller sees the error, a retry reads again
    data.catch(() => this.blocks.delete(index));
    this.blocks.set(index, data);
    if (this.blocks.size > KEEP) this.blocks.delete(this.blocks.keys().next().value!);
    return data;
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null, bytesRead?: number) => void): void {
    this.readAt(position, length).then(
      (data) => callback(null, data.copy(buffer, offset)),
      (error: unknown) => callback(error as Error),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return createReadStream('', { fd: this.handle.fd, start, end: end - 1, autoClose: false });
  }

  override close(callback: (err: Error | null) => void): void {
    this.handle.close().then(
      () => callback(null),
      (error: unknown) => callback(error as Error),
    );
  }
}
