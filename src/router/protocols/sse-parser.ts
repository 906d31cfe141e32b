/**
 * Server-sent events from bytes that may be split anywhere (inside a line, a CRLF, a UTF-8
 * character): push chunks, get the `data` of each complete event. Comment lines (the router's
 * loading heartbeat) and other fields are skipped.
 */
export class SseParser {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private data: string[] = [];

  /** The data payloads of the events completed by this chunk. */
  push(chunk: Uint8Array | string): string[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.drain(false);
  }

  /** At end of input: an event left without its blank line still counts. */
  end(): string[] {
    this.buffer += this.decoder.decode();
    const events = this.drain(true);
    if (this.data.length > 0) events.push(this.data.join('\n'));
    this.data = [];
    return events;
  }

  private drain(final: boolean): string[] {
    const events: string[] = [];
    let at = 0;
    const text = this.buffer;
    for (;;) {
      const lf = text.indexOf('\n', at);
      // CR alone also ends a line (rare); only search for it when one is present.
      const cr = text.indexOf('\r', at);
      let end: number;
      let width: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
        if (!final && cr === text.length - 1) break;
        end = cr;
        width = text[cr + 1] === '\n' ? 2 : 1;
      } else if (lf >= 0) {
        end = lf;
        width = 1;
      } else break;
      const line = text.slice(at, end);
      at = end + width;
      if (line === '') {
        if (this.data.length > 0) events.push(this.data.join('\n'));
        this.data = [];
      } else if (line.startsWith('data:')) {
        this.data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
    }
    this.buffer = at === 0 ? text : text.slice(at);
    if (final && this.buffer.startsWith('data:')) {
      this.data.push(this.buffer.slice(this.buffer.startsWith('data: ') ? 6 : 5));
      this.buffer = '';
    }
    return events;
  }
}
