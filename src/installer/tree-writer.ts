/**
 * Writes archive entries into the staging directory. Both readers (tar, zip)
 * feed it, so the safety rules live in one place: no write follows a symlink
 * (parents are checked against the links we created, files are opened with
 * O_EXCL|O_NOFOLLOW), no setuid/setgid, no foreign owners (we never chown), the
 * byte count is what we wrote, and the size limit is enforced as we go.
 */
import { closeSync, constants, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, unlinkSync, writeSync, chmodSync, fchmodSync } from 'node:fs';
import path from 'node:path';
import { PackageError, errnoCode } from '../errors.js';
import { formatBytes } from './limits.js';
import { checkLinksStayInside, hostile, safeEntryPath, shorten } from './entry-guard.js';
import { ENV } from '../env.js';
import { DeferredFiles, SMALL_FILE, type SmallFile } from './deferred-files.js';

type Kind = 'file' | 'dir' | 'symlink';

export interface TreeWriterLimits {
  maxBytes: number;
}

/**
 * Root runs what is installed: a group- or world-writable library or directory
 * would let any local user replace it, so 0o755 masks those bits (and setuid,
 * setgid, sticky). Owner rw keeps the tree removable and upgradable.
 */
export const safeMode = (mode: number): number => mode & 0o755;

const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** One file being written (see TreeWriter.openFile). */
export interface OpenFile {
  write(chunk: Buffer): void;
  /** Complete: apply the final mode and close. */
  end(mode: number): void;
  /** Close without completing (an error elsewhere). */
  close(): void;
}

export class TreeWriter {
  readonly root: string;
  private readonly kinds = new Map<string, Kind>();
  readonly links = new Map<string, string>();
  private readonly dirModes = new Map<string, number>();
  entries = 0;
  bytes = 0;
  /** The file of beginFile/write/endFile (tar: one at a time). */
  private current: OpenFile | null = null;
  /** Every file still open, also those of openFile (zip writes several at once). */
  private readonly open = new Set<OpenFile>();
  /** beginFile's small files, created when the reader has nothing else to do (deferred-files.ts). */
  private readonly deferred = new DeferredFiles((file) => this.createSmall(file));

  constructor(root: string, private readonly limits: TreeWriterLimits) {
    this.root = root;
  }

  /** A name the filesystem cannot hold is the archive's fault (65 naming it), not an I/O error. */
  private guard<T>(name: string, op: () => T): T {
    try {
      return op();
    } catch (error) {
      if (errnoCode(error) === 'ENAMETOOLONG') throw hostile('E_PKG_NAME_TOO_LONG', shorten(name), 'has a name (or link target) longer than the filesystem allows under the install root');
      throw error;
    }
  }

  private abs(rel: string): string {
    return path.join(this.root, rel);
  }

  /** Parents exist as real directories we created (never through a symlink or a file). */
  private ensureParents(rel: string, name: string): void {
    const parts = rel.split('/');
    let cur = '';
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur ? `${cur}/${parts[i]}` : parts[i]!;
      const kind = this.kinds.get(cur);
      if (kind === 'dir') continue;
      if (kind === 'symlink') throw hostile('E_PKG_THROUGH_LINK', name, `would be written through the symlink ${JSON.stringify(cur)}`);
      if (kind === 'file') throw hostile('E_PKG_BAD_PATH', name, `needs ${JSON.stringify(cur)} to be a directory, but it is a file`);
      mkdirSync(this.abs(cur), { mode: 0o755 });
      this.kinds.set(cur, 'dir');
    }
  }

  /** Remove an earlier entry of the same name (tar semantics: the last one wins), never a directory. */
  private replace(rel: string, name: string): void {
    const kind = this.kinds.get(rel);
    if (kind === undefined) return;
    if (kind === 'dir') throw hostile('E_PKG_BAD_PATH', name, 'replaces a directory of the same name');
    if (!this.deferred.drop(rel)) unlinkSync(this.abs(rel));
    this.kinds.delete(rel);
    this.links.delete(rel);
  }

  dir(name: string, mode: number): void {
    this.guard(name, () => this.dirUnguarded(name, mode));
  }

  private dirUnguarded(name: string, mode: number): void {
    const rel = safeEntryPath(name);
    this.entries++;
    if (rel === '') return;
    this.ensureParents(rel, name);
    const kind = this.kinds.get(rel);
    if (kind === 'symlink' || kind === 'file') throw hostile('E_PKG_BAD_PATH', name, 'is a directory where an earlier entry put a file or link');
    if (kind === undefined) {
      mkdirSync(this.abs(rel), { mode: 0o755 });
      this.kinds.set(rel, 'dir');
    }
    this.dirModes.set(rel, safeMode(mode) | 0o700);
  }

  /**
   * A file of the sequential reader (tar): its name is checked now, in archive order; a small one
   * is held in memory and created later (writePending, finish), a larger one as it grows past that.
   */
  beginFile(name: string, mode: number): void {
    this.current = this.guard(name, () => this.holdFile(name, mode));
  }

  /** Files held by beginFile, not yet on disk. */
  get pending(): number {
    return this.deferred.size;
  }

  /** What the files still held would take on disk (still known after an error). */
  get pendingDiskBytes(): number {
    return this.deferred.diskBytes;
  }

  /** Create up to `count` of the held files (the reader is waiting for its input anyway). */
  writePending(count: number): void {
    this.deferred.writeSome(count);
  }

  private holdFile(name: string, mode: number): OpenFile {
    const rel = this.claimFile(name);
    const parts: Buffer[] = [];
    let size = 0;
    let real: OpenFile | null = null;
    let closed = false;
    const file: OpenFile = {
      write: (chunk) => {
        if (real) return real.write(chunk);
        if (size + chunk.length <= SMALL_FILE) {
          this.count(chunk.length, name);
          // a copy: the chunk is a view of the gunzip's 1 MiB buffer, which it would keep alive
          parts.push(Buffer.from(chunk));
          size += chunk.length;
          return;
        }
        real = this.guard(name, () => this.createFile(rel, name, mode));
        // counted already
        this.bytes -= size;
        for (const part of parts.splice(0)) real.write(part);
        real.write(chunk);
      },
      end: (finalMode) => {
        if (real) return real.end(finalMode);
        if (closed) return;
        closed = true;
        this.deferred.add({ rel, mode: finalMode, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts, size) });
      },
      close: () => {
        closed = true;
        real?.close();
      },
    };
    return file;
  }

  private createSmall(file: SmallFile): void {
    this.guard(file.rel, () => {
      const out = this.createFile(file.rel, file.rel, file.mode);
      try {
        // counted when it was read
        this.bytes -= file.data.length;
        out.write(file.data);
        out.end(file.mode);
      } finally {
        out.close();
      }
    });
  }

  write(chunk: Buffer): void {
    this.current?.write(chunk);
  }

  endFile(mode: number): void {
    const file = this.current;
    this.current = null;
    file?.end(mode);
  }

  /**
   * A file written independently of beginFile/write/endFile, so entries can be filled
   * concurrently. The entry's name is checked and the file created (O_EXCL|O_NOFOLLOW) right
   * here, in archive order; its bytes count against the same limit as every other write.
   */
  openFile(name: string, mode: number): OpenFile {
    return this.guard(name, () => this.openFileUnguarded(name, mode));
  }

  private openFileUnguarded(name: string, mode: number): OpenFile {
    return this.createFile(this.claimFile(name), name, mode);
  }

  /** The checks every file entry passes before anything is written, in archive order. */
  private claimFile(name: string): string {
    const rel = safeEntryPath(name);
    if (rel === '') throw hostile('E_PKG_BAD_PATH', name, 'is a file without a name');
    this.ensureParents(rel, name);
    this.replace(rel, name);
    this.kinds.set(rel, 'file');
    this.entries++;
    return rel;
  }

  /** Creates a file claimFile checked (O_EXCL|O_NOFOLLOW: nothing there, not through a link). */
  private createFile(rel: string, name: string, mode: number): OpenFile {
    let fd: number | null = openSync(this.abs(rel), OPEN_FLAGS, safeMode(mode) | 0o600);
    const file: OpenFile = {
      write: (chunk) => {
        this.count(chunk.length, name);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd!, chunk, off, chunk.length - off);
      },
      end: (finalMode) => {
        if (fd === null) return;
        const closing = fd;
        fd = null;
        this.open.delete(file);
        try {
          // the umask may have removed bits the archive asked for
          fchmodSync(closing, safeMode(finalMode) | 0o600);
        } finally {
          closeSync(closing);
        }
      },
      close: () => {
        if (fd === null) return;
        const closing = fd;
        fd = null;
        this.open.delete(file);
        try {
          closeSync(closing);
        } catch {
          // nothing more to lose: the tree is being abandoned
        }
      },
    };
    this.open.add(file);
    return file;
  }

  private count(bytes: number, name: string): void {
    this.bytes += bytes;
    if (this.bytes > this.limits.maxBytes) {
      throw new PackageError('E_PKG_TOO_BIG', `archive expands to more than ${formatBytes(this.limits.maxBytes)} (stopped at entry ${JSON.stringify(name)})`, {
        hint: `this looks like a decompression bomb; if the package is really that big, raise ${ENV.PKG_MAX_BYTES}`,
        details: { entry: name, maxBytes: this.limits.maxBytes },
      });
    }
  }

  symlink(name: string, target: string): void {
    this.guard(name, () => this.symlinkUnguarded(name, target));
  }

  private symlinkUnguarded(name: string, target: string): void {
    const rel = safeEntryPath(name);
    if (rel === '') throw hostile('E_PKG_BAD_PATH', name, 'is a symlink without a name');
    if (target === '' || target.includes('\0')) throw hostile('E_PKG_BAD_LINK', name, 'is a symlink with an empty or invalid target');
    if (target.startsWith('/')) throw hostile('E_PKG_LINK_OUTSIDE', name, `is a symlink to the absolute path ${JSON.stringify(target)}`);
    this.ensureParents(rel, name);
    this.replace(rel, name);
    symlinkSync(target, this.abs(rel));
    this.kinds.set(rel, 'symlink');
    this.links.set(rel, target);
    this.entries++;
  }

  hardlink(name: string, target: string): void {
    this.guard(name, () => this.hardlinkUnguarded(name, target));
  }

  private hardlinkUnguarded(name: string, target: string): void {
    const rel = safeEntryPath(name);
    let to: string;
    try {
      to = safeEntryPath(target);
    } catch {
      throw hostile('E_PKG_LINK_OUTSIDE', name, `is a hard link to ${JSON.stringify(target)}, outside the install tree`);
    }
    if (rel === '' || rel === to) throw hostile('E_PKG_BAD_LINK', name, `is a hard link to ${JSON.stringify(target)}, which is itself`);
    if (this.kinds.get(to) !== 'file') throw hostile('E_PKG_BAD_LINK', name, `is a hard link to ${JSON.stringify(target)}, which is not a file extracted earlier`);
    this.deferred.writeNow(to);
    this.ensureParents(rel, name);
    this.replace(rel, name);
    linkSync(this.abs(to), this.abs(rel));
    this.kinds.set(rel, 'file');
    this.entries++;
  }

  /** After the last entry: links must stay inside (checked on the whole map), directory modes applied. */
  finish(): void {
    this.deferred.writeAll();
    this.closeAll();
    if (this.entries === 0) throw new PackageError('E_PKG_EMPTY_ARCHIVE', 'archive contains no entries', { hint: 'provide a llama.cpp build archive with bin/llama-server' });
    checkLinksStayInside(this.links);
    for (const [rel, mode] of this.dirModes) chmodSync(this.abs(rel), mode);
  }

  /** Closes the files left open by an error. */
  abort(): void {
    try {
      this.closeAll();
    } catch {
      // already failing
    }
  }

  /** Held files stay held: finish() creates them; after an error they go with the writer, never written. */
  private closeAll(): void {
    this.current?.close();
    this.current = null;
    for (const file of [...this.open]) file.close();
  }

  /** Is `rel` in the tree, and of what kind (for layout detection without touching the disk). */
  kindOf(rel: string): Kind | undefined {
    return this.kinds.get(rel);
  }
}

export function lstatKind(p: string): Kind | 'other' | null {
  try {
    const st = lstatSync(p);
    return st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch {
    return null;
  }
}
