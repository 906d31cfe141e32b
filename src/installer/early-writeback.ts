/**
 * Starts the disk writes of large extracted files while the extraction goes on, so the `sync -f`
 * before activation (durable.ts) finds little left to write. That sync waits for the disk, not
 * the CPU (0.37–0.41 s after a 300 MiB extraction on the project's machine, ~0.07 s of it CPU):
 * time the extraction can hide. Only large files, every FLUSH_EVERY bytes and at their end: the
 * tail before activation fell from ~350 to ~120 ms, the extraction took ~0.1 s of CPU more (the
 * writeback's submission is now ours); one fsync per file, small ones too, was measured slower
 * (bench/README.md, install section).
 *
 * Best effort, never a guarantee: every error is ignored, because the sync before activation is
 * what makes the tree durable and reports a failing disk.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Bytes of one file written between two early flushes of it. */
export const FLUSH_EVERY = 32 * 1024 * 1024;

export class EarlyWriteback {
  private readonly pending = new Set<string>();
  private running: Promise<void> | null = null;
  private stopped = false;

  /** Write back what `file` has so far, after the flushes already asked for (one at a time). */
  request(file: string): void {
    if (this.stopped) return;
    this.pending.add(file);
    this.running ??= this.drain();
  }

  /** No more flushes: drops the waiting ones and resolves when the one running is done. */
  async settle(): Promise<void> {
    this.stopped = true;
    this.pending.clear();
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let file = this.next(); file !== undefined; file = this.next()) {
      try {
        // its own descriptor: the writer may close its one meanwhile; O_NOFOLLOW as for every
        // open in the staging tree (the name may have been replaced by a later entry)
        const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      } catch {
        // best effort: the sync before activation writes it and reports a failing disk
      }
    }
    this.running = null;
  }

  private next(): string | undefined {
    const file = this.pending.values().next().value;
    if (file !== undefined) this.pending.delete(file);
    return file;
  }
}
