/**
 * Child output as the daemon shows it: text of complete lines is cleaned once
 * per chunk (a CR before the newline dropped, over-long lines cut at a fixed
 * size so one runaway line cannot flood a log event), and the most recent
 * lines are kept as those chunks, split only when someone reads them.
 */

export const MAX_LINE_CHARS = 8 * 1024;

/**
 * Lines of one chunk, `count` of them: `body` is the lines joined by '\n' (no trailing newline), or
 * the bytes as read, each line ended by '\n', when they needed no cleaning (see plainLineCount).
 */
export interface Lines {
  body: string | Buffer;
  count: number;
}

/**
 * `text` is complete lines, each ended by '\n' (the last may be unended: a piece cut from a line
 * still being written, or the end of the stream). A scan with indexOf per line, no string per line
 * unless a line must be cut.
 */
export function toLines(text: string, maxChars = MAX_LINE_CHARS): Lines {
  const ended = text.endsWith('\n');
  let body = ended ? text.slice(0, -1) : text;
  if (body.includes('\r')) {
    body = body.replaceAll('\r\n', '\n');
    if (ended && body.endsWith('\r')) body = body.slice(0, -1);
  }
  let count = 1;
  let start = 0;
  let long = false;
  for (let nl = body.indexOf('\n'); nl !== -1; nl = body.indexOf('\n', start)) {
    if (nl - start > maxChars) long = true;
    count++;
    start = nl + 1;
  }
  if (!long && body.length - start <= maxChars) return { body, count };
  const pieces: string[] = [];
  for (const line of body.split('\n')) {
    if (line.length === 0) pieces.push('');
    for (let i = 0; i < line.length; i += maxChars) pieces.push(line.slice(i, i + maxChars));
  }
  return { body: pieces.join('\n'), count: pieces.length };
}

/** Each line of `lines`, in order. */
export function eachLine(lines: Lines, onLine: (line: string) => void): void {
  const body = typeof lines.body === 'string' ? lines.body : lines.body.toString('latin1', 0, lines.body.length - 1);
  let start = 0;
  for (let nl = body.indexOf('\n'); nl !== -1; nl = body.indexOf('\n', start)) {
    onLine(body.slice(start, nl));
    start = nl + 1;
  }
  onLine(body.slice(start));
}

/**
 * The most recent lines, at least `capacity` of them while they fit in `maxChars` (a few long lines
 * must not pin megabytes per instance). Kept as the chunks they arrived in.
 */
export class LineRing {
  /** Oldest first from #head; Buffers keep the pipe's read buffer they came in, counted in #chars. */
  #chunks: Lines[] = [];
  #head = 0;
  #lines = 0;
  #chars = 0;
  #pushed = 0;

  constructor(
    readonly capacity: number,
    readonly maxChars = 1024 * 1024,
  ) {
    if (capacity < 1) throw new RangeError(`ring buffer capacity must be ≥ 1, got ${capacity}`);
  }

  push(lines: Lines): void {
    this.#chunks.push(lines);
    this.#lines += lines.count;
    this.#chars += lines.body.length;
    this.#pushed += lines.count;
    for (;;) {
      const oldest = this.#chunks[this.#head]!;
      if (this.#head === this.#chunks.length - 1) break;
      if (this.#lines - oldest.count < this.capacity && this.#chars <= this.maxChars) break;
      this.#lines -= oldest.count;
      this.#chars -= oldest.body.length;
      this.#head++;
    }
    if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The last n lines (at most `capacity`), oldest first. */
  last(n: number): string[] {
    const want = Math.min(n, this.capacity);
    if (want <= 0) return [];
    const picked: Lines[] = [];
    let have = 0;
    for (let i = this.#chunks.length - 1; i >= this.#head && have < want; i--) {
      picked.push(this.#chunks[i]!);
      have += this.#chunks[i]!.count;
    }
    const out: string[] = [];
    for (let i = picked.length - 1; i >= 0; i--) eachLine(picked[i]!, (line) => out.push(line));
    return out.slice(Math.max(0, out.length - want));
  }

  get size(): number {
    return Math.min(this.#lines, this.capacity);
  }

  /** Lines pushed since creation (not capped): marks where a run's own lines begin. */
  get pushed(): number {
    return this.#pushed;
  }
}
