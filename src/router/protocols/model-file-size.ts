/**
 * The size of an instance's model file, for Ollama's `size` fields. A split GGUF
 * (`name-00001-of-00003.gguf`) counts every part, as its weights are all loaded. Listings are
 * asked often (clients poll /api/ps), so the total is kept per path and first part's mtime: one
 * stat per listed model remains, not one per part.
 */
import { statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface FileSystem {
  stat(path: string): { size: number; mtimeMs: number };
}

const nodeFs: FileSystem = { stat: (path) => statSync(path) };

const SPLIT = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

export class ModelFileSizes {
  private readonly known = new Map<string, { mtimeMs: number; size: number }>();

  constructor(private readonly fs: FileSystem = nodeFs) {}

  /** Bytes; 0 without a local file (hf_repo, a path that is gone). */
  of(path: string | null): number {
    if (!path) return 0;
    let stat: { size: number; mtimeMs: number };
    try {
      stat = this.fs.stat(path);
    } catch {
      this.known.delete(path);
      return 0;
    }
    const cached = this.known.get(path);
    if (cached && cached.mtimeMs === stat.mtimeMs) return cached.size;
    const size = this.total(path, stat.size);
    this.known.set(path, { mtimeMs: stat.mtimeMs, size });
    return size;
  }

  private total(path: string, first: number): number {
    const split = SPLIT.exec(basename(path));
    if (!split) return first;
    const [, stem, , count] = split;
    let size = 0;
    for (let part = 1; part <= Number(count); part++) {
      const name = `${stem}-${String(part).padStart(5, '0')}-of-${count}.gguf`;
      try {
        size += this.fs.stat(join(dirname(path), name)).size;
      } catch {
        // A missing part: llama-server will refuse to load it; count what is there.
      }
    }
    return size;
  }
}
