/**
 * The reference the byte parser (src/router/protocols/sse-byte-parser.ts) is tested against: the
 * router's SSE parser before it read bytes, kept here as an independent second implementation.
 *
 * Server-sent events from bytes that may be split anywhere (inside a line, a CRLF, a UTF-8
 * character): push chunks, get the `data` of each complete event. Comment lines (the router's
 * loading heartbeat) and other fields are skipped.
 */
export class SseParser {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  /** The event being read: its data lines joined by \n; null before its first data line. */
  private data: string | null = null;

  /** The data payloads of the events completed by this chunk. */
  push(chunk: Uint8Array | string): string[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.buffer = this.buffer === '' ? text : this.buffer + text;
    return this.drain(false);
  }

  /** At end of input: an event left without its blank line still counts. */
  end(): string[] {
    this.buffer += this.decoder.decode();
    const events = this.drain(true);
    if (this.data !== null) events.push(this.data);
    this.data = null;
    return events;
  }

  private drain(final: boolean): string[] {
    const events: string[] = [];
    let at = 0;
    const text = this.buffer;
    // CR alone also ends a line (rare): found once per chunk, not once per line, as a coalesced
    // chunk of many frames would otherwise be scanned to its end for every line.
    let cr = text.indexOf('\r');
    for (;;) {
      const lf = text.indexOf('\n', at);
      if (cr >= 0 && cr < at) cr = text.indexOf('\r', at);
      let end: number;
      let width: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        if (!final && cr === text.length - 1) break;
        end = cr;
        width = text.charCodeAt(cr + 1) === 10 ? 2 : 1;
      } else if (lf >= 0) {
        end = lf;
        width = 1;
      } else break;
      if (end === at) {
        if (this.data !== null) events.push(this.data);
        this.data = null;
      } else if (text.startsWith('data:', at)) {
        const line = text.slice(at + (text.charCodeAt(at + 5) === 32 ? 6 : 5), end);
        this.data = this.data === null ? line : `${this.data}\n${line}`;
      }
      at = end + width;
    }
    this.buffer = at === 0 ? text : text.slice(at);
    if (final && this.buffer.startsWith('data:')) {
      const line = this.buffer.slice(this.buffer.startsWith('data: ') ? 6 : 5);
      this.data = this.data === null ? line : `${this.data}\n${line}`;
      this.buffer = '';
    }
    return events;
  }
}
