/**
 * The frames of one stream differ, almost always, only in their text: the reader keeps the last
 * plain frame whose one text filled one field as a template, and a frame with the template's bytes
 * before and after that field's string, and a verbatim string between them, is the same frame with
 * another text (two compares and a scan of the text), without reading its JSON again.
 * Anything else is scanned in full (plain-delta-scan.ts), and may become the next template.
 */
import { type PlainDelta, scanPlainDelta, scanVerbatimString } from './plain-delta-scan.js';

export class PlainDeltaReader {
  private template: Buffer | null = null;
  /** Bytes of the template up to and including the string's opening quote; from its closing quote on. */
  private before = 0;
  private after = 0;
  private thinking = false;

  /** Whether `buf[start, end)` is a plain frame; its strings' ranges in `out`. */
  read(buf: Buffer, start: number, end: number, out: PlainDelta): boolean {
    const template = this.template;
    if (template !== null && this.matches(template, buf, start, end)) {
      const open = start + this.before - 1;
      const close = end - this.after + 1;
      if (scanVerbatimString(buf, open, end) === close) {
        out.content = out.thinking = -1;
        if (this.thinking) {
          out.thinking = open;
          out.thinkingEnd = close;
        } else {
          out.content = open;
          out.contentEnd = close;
        }
        return true;
      }
    }
    if (!scanPlainDelta(buf, start, end, out)) return false;
    this.remember(buf, start, end, out);
    return true;
  }

  private matches(template: Buffer, buf: Buffer, start: number, end: number): boolean {
    const before = this.before;
    const after = this.after;
    return end - start >= before + after && same(template, template.length - after, buf, end - after, after) && same(template, 0, buf, start, before);
  }

  private remember(buf: Buffer, start: number, end: number, out: PlainDelta): void {
    if ((out.content >= 0) === (out.thinking >= 0)) return;
    const thinking = out.thinking >= 0;
    const open = thinking ? out.thinking : out.content;
    const close = thinking ? out.thinkingEnd : out.contentEnd;
    this.template = Buffer.from(buf.subarray(start, end));
    this.before = open - start + 1;
    this.after = end - close + 1;
    this.thinking = thinking;
  }
}

/** Whether `n` bytes of `a` from `i` are those of `b` from `j`: a loop when short, as Buffer.compare's call costs more. */
function same(a: Buffer, i: number, b: Buffer, j: number, n: number): boolean {
  if (n > 48) return b.compare(a, i, i + n, j, j + n) === 0;
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}
