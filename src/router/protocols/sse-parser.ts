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
    for (;;) {
      const newline = this.buffer.search(/\r\n|\r|\n/);
      if (newline < 0) break;
      // A lone CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (!final && this.buffer[newline] === '\r' && newline === this.buffer.length - 1) break;
      const width = this.buffer.startsWith('\r\n', newline) ? 2 : 1;
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + width);
      if (line === '') {
        if (this.data.length > 0) events.push(this.data.join('\n'));
        this.data = [];
      } else if (line.startsWith('data:')) {
        this.data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
    }
    if (final && this.buffer.startsWith('data:')) {
      this.data.push(this.buffer.slice(this.buffer.startsWith('data: ') ? 6 : 5));
      this.buffer = '';
    }
    return events;
  }
}
