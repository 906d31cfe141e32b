/**
 * Child output handling: split a byte stream into lines (over-long lines are
 * cut at a fixed size so one runaway line cannot grow memory without bound),
 * and keep the last N lines per instance.
 */
import { StringDecoder } from 'node:string_decoder';

export const MAX_LINE_CHARS = 8 * 1024;

/**
 * Feeds chunks in, calls onLine for each complete (or cut) line; flush() emits a trailing partial
 * line. `continued` is true for a piece cut from a longer line (more of it follows).
 */
export class LineSplitter {
  #decoder = new StringDecoder('utf8');
  #partial = '';

  constructor(
    private readonly onLine: (line: string, continued: boolean) => void,
    private readonly maxChars = MAX_LINE_CHARS,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      this.#emit(text.slice(start, nl));
      start = nl + 1;
    }
    let rest = text.slice(start);
    while (rest.length >= this.maxChars) {
      this.onLine(rest.slice(0, this.maxChars), true);
      rest = rest.slice(this.maxChars);
    }
    this.#partial = rest;
  }

  flush(): void {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    if (rest.length > 0) this.#emit(rest);
  }

  #emit(line: string): void {
    const clean = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (let i = 0; i < clean.length; i += this.maxChars) this.onLine(clean.slice(i, i + this.maxChars), i + this.maxChars < clean.length);
    if (clean.length === 0) this.onLine('', false);
  }
}

/** Fixed-capacity ring of the most recent lines. */
export class RingBuffer {
  #items: string[] = [];
  #next = 0;
  #pushed = 0;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError(`ring buffer capacity must be ≥ 1, got ${capacity}`);
  }

  push(item: string): void {
    this.#pushed++;
    if (this.#items.length < this.capacity) {
      this.#items.push(item);
      return;
    }
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
  }

  /** The last n items, oldest first. */
  last(n: number): string[] {
    const ordered = this.#items.length < this.capacity ? this.#items : [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
    if (n <= 0) return [];
    return ordered.slice(Math.max(0, ordered.length - n));
  }

  get size(): number {
    return this.#items.length;
  }

  /** Items pushed since creation (not capped): marks where a run's own lines begin. */
  get pushed(): number {
    return this.#pushed;
  }
}
