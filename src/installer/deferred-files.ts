/**
 * Small files of a tar archive, held in memory and created later, when the main thread would
 * otherwise wait for the gunzip. Creating a file costs ~0.3 ms of system time here (inode
 * allocation), so an archive's 1,500 small files kept the main thread busy for ~0.6 s while the
 * gunzip, one 1 MiB chunk ahead, stood still; then the large files' phase was bound by the gunzip
 * with the main thread idle 60 % of the time (bench/README.md, install section, fifth pass).
 * Holding the small ones lets the gunzip reach the large ones early and fills those idle gaps.
 *
 * The entry's name, parents and kind are checked (and recorded) by the tree writer when the entry
 * is read, as for every other entry; only the create and the write come later.
 */

export interface SmallFile {
  /**
   * The entry's checked path, also its name in messages: not the archive's own spelling, which a
   * PAX header can make up to 1 MiB long (`././…/a`) and the byte bound below would not count.
   */
  rel: string;
  mode: number;
  data: Buffer;
}

/** A file up to this size is held; a larger one is created as soon as it grows past it. */
export const SMALL_FILE = 64 * 1024;
/** At most this much held at once: beyond it the oldest are written at once. */
const MAX_BYTES = 16 * 1024 * 1024;
const MAX_FILES = 4096;
const BLOCK = 4096;

export class DeferredFiles {
  private readonly files = new Map<string, SmallFile>();
  private bytes = 0;

  constructor(private readonly create: (file: SmallFile) => void) {}

  get size(): number {
    return this.files.size;
  }

  /** What the held files will take on disk (a block each at least): the disk-full projection counts them. */
  get diskBytes(): number {
    let total = 0;
    for (const file of this.files.values()) total += Math.ceil(file.data.length / BLOCK) * BLOCK;
    return total;
  }

  add(file: SmallFile): void {
    this.files.set(file.rel, file);
    this.bytes += file.data.length + file.rel.length;
    while (this.bytes > MAX_BYTES || this.files.size > MAX_FILES) this.writeSome(1);
  }

  /** A later entry of the same name replaces it: never written. */
  drop(rel: string): boolean {
    const file = this.files.get(rel);
    if (!file) return false;
    this.forget(file);
    return true;
  }

  /** Create it now (a hard link is about to name it). */
  writeNow(rel: string): void {
    const file = this.files.get(rel);
    if (!file) return;
    this.forget(file);
    this.create(file);
  }

  /** Create up to `count` of them, oldest first. */
  writeSome(count: number): void {
    for (const file of this.files.values()) {
      if (count-- <= 0) return;
      this.forget(file);
      this.create(file);
    }
  }

  writeAll(): void {
    this.writeSome(Number.POSITIVE_INFINITY);
  }

  private forget(file: SmallFile): void {
    this.files.delete(file.rel);
    this.bytes -= file.data.length + file.rel.length;
  }
}
