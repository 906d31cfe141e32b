/**
 * Server-sent events read as bytes, so that a translator can use an event's payload without
 * decoding it: the same events as SseParser (lines end at LF, CRLF or CR; a blank line ends an
 * event; `data:` lines are joined by \n; a BOM may open the stream), found by byte value, which
 * UTF-8 keeps apart from every multi-byte character. An event of one data line is handed over as
 * its bytes; one of several lines as their decoded text.
 */
export interface SseSink {
  /** An event of one data line: the bytes `buf[start, end)`, valid only during the call. */
  bytes(buf: Buffer, start: number, end: number): void;
  /** An event of several data lines, decoded and joined by \n. */
  text(data: string): void;
}

const LF = 10;
const CR = 13;
const EMPTY = Buffer.alloc(0);
// A BOM is dropped only at the start of the stream (the parser does that), not inside an event.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** An event's bytes, as handed to `SseSink.bytes`, as text (bytes that are not UTF-8 become U+FFFD). */
export function eventText(buf: Buffer, start: number, end: number): string {
  return decoder.decode(buf.subarray(start, end));
}

export class SseByteParser {
  /** The bytes of an unfinished line (a copy: the upstream's buffers are not ours to hold). */
  private rest: Buffer = EMPTY;
  /** The data lines of the event being read, each its own copy once this event spans chunks. */
  private lines: Buffer[] = [];
  /**
   * More of the unfinished line, copied, each without a line end: a line spanning many reads (one
   * large event) is joined and scanned once, when its end comes, not again with every read.
   */
  private more: Buffer[] = [];
  /** Nothing read yet: a BOM there is not part of the first line. */
  private fresh = true;

  push(chunk: Buffer, sink: SseSink): void {
    const rest = this.rest;
    if (rest.length === 0) return this.drain(chunk, sink, false);
    // (a CR at the end of `rest` ends its line whatever follows)
    if (!this.fresh && rest[rest.length - 1] !== CR && chunk.indexOf(LF) < 0 && chunk.indexOf(CR) < 0) {
      this.more.push(Buffer.from(chunk));
      return;
    }
    this.drain(Buffer.concat([rest, ...this.takeMore(), chunk]), sink, false);
  }

  /** At end of input: the last line and an event left without its blank line still count. */
  end(sink: SseSink): void {
    const more = this.takeMore();
    const rest = more.length === 0 ? this.rest : Buffer.concat([this.rest, ...more]);
    this.rest = EMPTY;
    this.drain(rest, sink, true);
    if (this.lines.length > 0) this.dispatch(EMPTY, -1, -1, sink);
  }

  private takeMore(): Buffer[] {
    const more = this.more;
    if (more.length > 0) this.more = [];
    return more;
  }

  private drain(buf: Buffer, sink: SseSink, final: boolean): void {
    let at = 0;
    if (this.fresh) {
      if (!final && buf.length < 3 && (buf.length === 0 || isBomStart(buf))) {
        this.rest = Buffer.from(buf);
        return;
      }
      this.fresh = false;
      if (buf.length >= 3 && isBomStart(buf)) at = 3;
    }
    // A data line seen in this buffer and not yet copied: most events are one line, whole in one chunk.
    let line = -1;
    let lineEnd = -1;
    let cr = buf.indexOf(CR, at);
    while (at < buf.length) {
      if (cr >= 0 && cr < at) cr = buf.indexOf(CR, at);
      // (the blank line after an event, found without a call)
      const lf = buf[at] === LF ? at : buf.indexOf(LF, at);
      let end: number;
      let width: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        if (!final && cr === buf.length - 1) break;
        end = cr;
        width = buf[cr + 1] === LF ? 2 : 1;
      } else if (lf >= 0) {
        end = lf;
        width = 1;
      } else break;
      if (end === at) {
        if (line >= 0 || this.lines.length > 0) this.dispatch(buf, line, lineEnd, sink);
        line = -1;
      } else if (isData(buf, at, end)) {
        if (line >= 0) this.lines.push(Buffer.from(buf.subarray(line, lineEnd)));
        line = at + (buf[at + 5] === 32 ? 6 : 5);
        lineEnd = end;
        if (this.lines.length > 0) {
          this.lines.push(Buffer.from(buf.subarray(line, lineEnd)));
          line = -1;
        }
      }
      at = end + width;
    }
    if (line >= 0) this.lines.push(Buffer.from(buf.subarray(line, lineEnd)));
    if (final && isData(buf, at, buf.length)) this.lines.push(Buffer.from(buf.subarray(at + (buf[at + 5] === 32 ? 6 : 5))));
    else if (!final && at < buf.length) this.rest = Buffer.from(buf.subarray(at));
    else this.rest = EMPTY;
  }

  /** The event ended: its one line in `buf[line, lineEnd)` when it is uncopied, or its copied lines. */
  private dispatch(buf: Buffer, line: number, lineEnd: number, sink: SseSink): void {
    const lines = this.lines;
    if (line >= 0) sink.bytes(buf, line, lineEnd);
    else if (lines.length === 1) sink.bytes(lines[0]!, 0, lines[0]!.length);
    else sink.text(lines.map((l) => decoder.decode(l)).join('\n'));
    if (lines.length > 0) this.lines = [];
  }
}

function isData(buf: Buffer, at: number, end: number): boolean {
  return end - at >= 5 && buf[at] === 0x64 && buf[at + 1] === 0x61 && buf[at + 2] === 0x74 && buf[at + 3] === 0x61 && buf[at + 4] === 0x3a;
}

function isBomStart(buf: Buffer): boolean {
  return buf[0] === 0xef && (buf.length < 2 || buf[1] === 0xbb) && (buf.length < 3 || buf[2] === 0xbf);
}
