/**
 * An HTTP/1.1 response parser for the router's upstream connections, fed socket reads as they
 * come. Besides the decoded body it can hand on a chunked body as it arrived, whole chunks only
 * (their size lines and CRLFs included, the last chunk and trailers not): the client's answer is
 * chunked too, so a streamed token goes from one socket to the other without being decoded and
 * framed again — what nginx does, and most of a proxy's cost per token in Node. A chunk larger
 * larger than the consumer's hold limit (`RAW_HOLD_MAX` unless it asks for more) that spans reads is
 * the exception: it goes on re-framed, piece by piece.
 *
 * Only what llama-server and any HTTP/1.x server send an upstream client is accepted; anything
 * else is a `ParseError`, and the connection is not reused.
 */

export const enum Framing {
  /** `content-length` bytes. */
  Length,
  Chunked,
  /** Until the server closes the connection (HTTP/1.0, or no length given). */
  Close,
  /** No body: 1xx, 204, 304, an answer to HEAD, or a length of 0. */
  None,
}

export interface ResponseHead {
  status: number;
  /** Lowercase names; a repeated header is an array. */
  headers: Record<string, string | string[]>;
  framing: Framing;
  /** The connection may carry another request once this answer is read. */
  keepAlive: boolean;
}

export interface ResponseEvents {
  head(head: ResponseHead): void;
  /** Decoded body bytes: a view into the read, valid during the call only. */
  data(bytes: Buffer): void;
  /**
   * Raw mode: whole chunks as received (a view, or a copy when a chunk spanned reads), or a piece
   * of a chunk too large to hold, framed as a chunk of its own. Always ends at a chunk boundary.
   */
  raw(bytes: Buffer): void;
  end(): void;
}

export class ParseError extends Error {
  override name = 'ParseError';
}

const MAX_HEAD_BYTES = 64 * 1024;
/**
 * The most raw mode holds of one chunk that spans reads. Whole chunks go on so that the client's
 * framing is at a chunk boundary after every write, where the router can still end an SSE answer
 * with its own error frame; but held whole, one 50 MB chunk (a big embeddings answer, a large
 * /upstream/ body, a misbehaving server) would sit in router memory and reach the client only once
 * complete. Past this a chunk goes on as it arrives, each piece as a chunk of the router's own
 * framing. 64 KiB is a socket read, and far more than a streamed token's event.
 */
export const RAW_HOLD_MAX = 64 * 1024;
/**
 * The hold limit an SSE answer asks for: there one chunk is one event, and an upstream that dies
 * inside an event re-framed piece by piece would leave the router's error frame glued to half an
 * event (JSON the client cannot parse). Events this large do not occur in token streams; past it
 * the bound wins over the error frame's fidelity.
 */
export const SSE_RAW_HOLD_MAX = 1024 * 1024;
/** Held pieces smaller than this are copied into staging buffers of STAGE_BYTES (see keep()). */
const STAGE_MIN = 4096;
const STAGE_BYTES = 16 * 1024;
/** What HTTP/1.1 lets a header carry (lowercased names), in either direction: Node's writeHead refuses the rest. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_LINE_BYTES = 4 * 1024;
const CR = 13;
const LF = 10;

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  Close,
  Done,
}

export class ResponseParser {
  private state = State.Head;
  /** Bytes of the head, or of a size/trailer line, that a read cut. */
  private partial: Buffer | null = null;
  private remaining = 0;
  /** Raw mode: bytes of a chunk begun in earlier reads and not yet complete (its size line included). */
  private heldRaw: Buffer[] = [];
  private heldRawBytes = 0;
  /** Small held pieces are copied into this, not kept as views: see keep(). */
  private stage: Buffer | null = null;
  /** Bytes of `stage` in use. */
  private staged = 0;
  /** Where in `stage` the view that is the last of `heldRaw` begins, or −1 when that is not a staged view. */
  private stageView = -1;
  /** Raw mode: the current chunk outgrew RAW_HOLD_MAX: its pieces go on framed by us as they come. */
  private reframing = false;
  private raw = false;
  private wantRaw = false;
  private holdMax = RAW_HOLD_MAX;

  constructor(
    private readonly events: ResponseEvents,
    /** The request was HEAD: whatever the headers say, no body follows. */
    private readonly headRequest = false,
  ) {}

  /**
   * Hand a chunked body on raw from the next chunk boundary on (what was decoded before stays
   * decoded), a chunk spanning reads held whole up to `holdMax` bytes.
   */
  passRaw(holdMax = RAW_HOLD_MAX): void {
    this.wantRaw = true;
    this.holdMax = holdMax;
  }

  get done(): boolean {
    return this.state === State.Done;
  }

  /** Buffers held for a chunk spanning reads: a few per 16 KiB however small the reads. */
  get heldPieces(): number {
    return this.heldRaw.length;
  }

  /** Bytes kept from one read for the next (a chunk begun, a line cut): never more than the hold limit. */
  get heldBytes(): number {
    return this.heldRawBytes + (this.partial?.length ?? 0);
  }

  /** The connection ended; a close-delimited body ends with it, anything else was cut. */
  finish(): void {
    if (this.state === State.Close) {
      this.state = State.Done;
      this.events.end();
      return;
    }
    if (this.state !== State.Done) throw new ParseError('the connection closed before the answer was complete');
  }

  feed(buf: Buffer): void {
    let at = 0;
    // Raw mode: this read's bytes from rawFrom to rawTo are whole chunks not handed on yet.
    let rawFrom = 0;
    let rawTo = -1;
    read: while (at < buf.length && this.state !== State.Done) {
      switch (this.state) {
        case State.Head: {
          const end = this.lineEnd(buf, at, MAX_HEAD_BYTES, true);
          if (end < 0) return;
          const head = this.take(buf, at, end);
          at = end;
          rawFrom = at;
          this.parseHead(head);
          break;
        }
        case State.Length: {
          const n = Math.min(this.remaining, buf.length - at);
          this.events.data(buf.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.complete();
          break;
        }
        case State.Close:
          this.events.data(at === 0 ? buf : buf.subarray(at));
          return;
        case State.ChunkSize: {
          // At a chunk boundary: raw mode may begin here.
          if (this.wantRaw && !this.raw && this.partial === null) {
            this.raw = true;
            rawFrom = at;
          }
          const split = this.partial !== null;
          const end = this.lineEnd(buf, at, MAX_LINE_BYTES, false);
          // The line's start is kept in `partial`; the chunks before it go on below.
          if (end < 0) break read;
          // The common case, a whole line in this read, is read in place (no Buffer made per token).
          const line = split ? this.take(buf, at, end) : buf;
          const size = split ? chunkSize(line, 0, line.length) : chunkSize(buf, at, end);
          at = end;
          if (size === 0) {
            // The last chunk: the chunks before it go on now; it and the trailers are the caller's to write.
            this.emitRaw(buf, rawFrom, rawTo);
            rawFrom = rawTo = -1;
            this.state = State.Trailer;
          } else {
            if (split && this.raw) {
              // The line began in the previous read (only a read's first line can): its bytes are `line`.
              this.keep(line);
              rawFrom = at;
            }
            this.remaining = size;
            this.state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length - at);
          if (!this.raw) this.events.data(buf.subarray(at, at + n));
          else if (this.reframing) this.events.raw(frame([buf.subarray(at, at + n)], n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.remaining = 2;
            this.state = State.ChunkDataEnd;
          }
          break;
        }
        case State.ChunkDataEnd: {
          if (buf[at] !== (this.remaining === 2 ? CR : LF)) throw new ParseError('a chunk of the answer did not end with CRLF');
          at++;
          if (--this.remaining === 0) {
            this.state = State.ChunkSize;
            if (this.reframing) {
              // Its CRLF was upstream's framing, not ours: raw pass-through resumes after it.
              this.reframing = false;
              rawFrom = at;
            }
            rawTo = at;
          }
          break;
        }
        case State.Trailer: {
          const end = this.lineEnd(buf, at, MAX_HEAD_BYTES, false);
          if (end < 0) return;
          const line = this.take(buf, at, end);
          at = end;
          if (line.length <= 2) this.complete();
          break;
        }
      }
    }
    if (this.raw && rawFrom >= 0) {
      // Whole chunks go on in one piece per read; a chunk this read did not finish is kept for the
      // next (a re-framed one was sent on above, piece by piece).
      this.emitRaw(buf, rawFrom, rawTo);
      if ((this.state === State.ChunkData || this.state === State.ChunkDataEnd) && !this.reframing) this.holdRaw(buf, rawTo >= 0 ? rawTo : rawFrom);
    }
    if (this.state === State.Done && at < buf.length) throw new ParseError('the upstream sent bytes after its answer');
  }

  private parseHead(head: Buffer): void {
    const text = head.toString('latin1');
    const lines = text.split('\r\n');
    const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!statusLine) throw new ParseError(`not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const http10 = statusLine[1] === '0';
    const status = Number(statusLine[2]);
    const headers: Record<string, string | string[]> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ParseError(`a header line without a name: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      // What Node's writeHead would refuse when the answer's headers are passed on to the client.
      if (!HEADER_NAME.test(name)) throw new ParseError(`a header name that is not a token: ${JSON.stringify(name.slice(0, 80))}`);
      if (!HEADER_VALUE.test(value)) throw new ParseError(`the ${name} header holds a control character`);
      const known = headers[name];
      if (known === undefined) headers[name] = value;
      else if (Array.isArray(known)) known.push(value);
      else headers[name] = [known, value];
    }
    if (status === 101) throw new ParseError('an upgrade (101) the router never asked for');
    if (status < 200) {
      // 100 Continue and friends: the real answer follows on the same connection.
      return;
    }
    const connection = String(headers.connection ?? '').toLowerCase();
    let keepAlive = http10 ? connection.includes('keep-alive') : !connection.includes('close');
    const te = String(headers['transfer-encoding'] ?? '').toLowerCase();
    const length = headers['content-length'];
    let framing: Framing;
    if (this.headRequest || status === 204 || status === 304) framing = Framing.None;
    else if (te !== '') {
      if (te.trim() !== 'chunked') throw new ParseError(`an answer with transfer-encoding "${te}", which the router does not decode`);
      framing = Framing.Chunked;
    } else if (length !== undefined) {
      if (Array.isArray(length) || !/^\d{1,15}$/.test(length)) throw new ParseError(`an answer with content-length "${String(length)}"`);
      this.remaining = Number(length);
      framing = this.remaining === 0 ? Framing.None : Framing.Length;
    } else {
      framing = Framing.Close;
      keepAlive = false;
    }
    this.events.head({ status, headers, framing, keepAlive });
    if (framing === Framing.None) this.complete();
    else if (framing === Framing.Length) this.state = State.Length;
    else if (framing === Framing.Chunked) this.state = State.ChunkSize;
    else this.state = State.Close;
  }

  private complete(): void {
    this.state = State.Done;
    this.events.end();
  }

  /**
   * Offset just past the line (or, for the head, past the blank line) that starts at `at`, or −1
   * when the read ends first (the part is kept in `partial`).
   */
  private lineEnd(buf: Buffer, at: number, max: number, head: boolean): number {
    const prior = this.partial?.length ?? 0;
    if (!head) {
      // Size lines are a few bytes: a loop here is cheaper than a call into indexOf.
      const limit = Math.min(buf.length, at + max - prior);
      for (let i = at; i < limit; i++) if (buf[i] === LF) return i + 1;
      if (limit < buf.length) throw new ParseError('a chunk size or trailer line is too long');
      this.partial = prior > 0 ? Buffer.concat([this.partial!, buf.subarray(at)]) : Buffer.from(buf.subarray(at));
      return -1;
    }
    let i = at;
    for (;;) {
      const lf = buf.indexOf(LF, i);
      if (lf < 0) break;
      // The head ends at an empty line: LF preceded by CRLF (possibly across the earlier part).
      const prev1 = lf - 1 >= at ? buf[lf - 1] : this.partial?.[prior - (at - (lf - 1))];
      const prev2 = lf - 2 >= at ? buf[lf - 2] : this.partial?.[prior - (at - (lf - 2))];
      const prev3 = lf - 3 >= at ? buf[lf - 3] : this.partial?.[prior - (at - (lf - 3))];
      if (prev1 === CR && prev2 === LF && prev3 === CR) {
        if (prior + lf + 1 - at > max) throw new ParseError('the answer\'s headers are too large');
        return lf + 1;
      }
      i = lf + 1;
    }
    if (prior + buf.length - at > max) throw new ParseError('the answer\'s headers are too large');
    this.partial = prior > 0 ? Buffer.concat([this.partial!, buf.subarray(at)]) : Buffer.from(buf.subarray(at));
    return -1;
  }

  /** The bytes from `at` to `end`, with the part an earlier read held. */
  private take(buf: Buffer, at: number, end: number): Buffer {
    const part = this.partial;
    this.partial = null;
    return part ? Buffer.concat([part, buf.subarray(at, end)]) : buf.subarray(at, end);
  }

  /** Held bytes (a chunk begun in earlier reads) and this read's whole chunks up to `to`, in one piece. */
  private emitRaw(buf: Buffer, from: number, to: number): void {
    if (!this.raw || to < 0) return;
    const held = this.heldRaw;
    if (held.length === 0) {
      // Most reads are one whole chunk: the read itself goes on.
      if (to > from) this.events.raw(from === 0 && to === buf.length ? buf : buf.subarray(from, to));
      return;
    }
    this.dropHeld();
    held.push(buf.subarray(from, to));
    this.events.raw(Buffer.concat(held));
  }

  /**
   * Hold `piece` (part of a chunk). An upstream writing a byte at a time would otherwise leave one
   * Buffer object per read held (tens of thousands for one chunk, many times its bytes in memory):
   * small pieces are copied into a shared staging buffer instead.
   */
  private keep(piece: Buffer): void {
    this.heldRawBytes += piece.length;
    if (piece.length >= STAGE_MIN) {
      this.heldRaw.push(piece);
      // the stage's free room stays for the next small piece, as a view of its own
      this.stageView = -1;
      return;
    }
    if (this.stage === null || this.stage.length - this.staged < piece.length) {
      this.stage = Buffer.allocUnsafe(STAGE_BYTES);
      this.staged = 0;
      this.stageView = -1;
    }
    if (this.stageView < 0) {
      this.stageView = this.staged;
      this.heldRaw.push(this.stage);
    }
    this.staged += piece.copy(this.stage, this.staged);
    this.heldRaw[this.heldRaw.length - 1] = this.stage.subarray(this.stageView, this.staged);
  }

  /** The held bytes were sent on (or re-framed): a new stage for the next chunk, none of it shared. */
  private dropHeld(): void {
    this.heldRaw = [];
    this.heldRawBytes = 0;
    this.stage = null;
    this.stageView = -1;
  }

  /**
   * A chunk continues in the next read: keep its bytes so far, or, past the hold limit, send its data
   * so far as a chunk of our own and the rest as it comes.
   */
  private holdRaw(buf: Buffer, from: number): void {
    if (from === buf.length) return;
    const tail = buf.subarray(from);
    if (this.heldRawBytes + tail.length <= this.holdMax) return this.keep(tail);
    const held = this.heldRaw;
    held.push(tail);
    // Upstream's size line is left out (the first held piece begins with all of it), and so is what
    // arrived of its closing CRLF.
    const line = held[0]!.indexOf(LF) + 1;
    const size = this.heldRawBytes + tail.length - line - (this.state === State.ChunkDataEnd ? 2 - this.remaining : 0);
    held[0] = held[0]!.subarray(line);
    this.dropHeld();
    this.reframing = true;
    if (size > 0) this.events.raw(frame(held, size));
  }
}

/** The first `size` bytes of `pieces` as one chunk (never a last chunk: `size` > 0). */
function frame(pieces: Buffer[], size: number): Buffer {
  const head = `${size.toString(16)}\r\n`;
  const out = Buffer.allocUnsafe(head.length + size + 2);
  let at = out.write(head, 'latin1');
  const end = at + size;
  for (const piece of pieces) {
    if (at === end) break;
    at += piece.copy(out, at, 0, Math.min(piece.length, end - at));
  }
  out[end] = CR;
  out[end + 1] = LF;
  return out;
}

/**
 * The size of a chunk from its line, `line[from, to)`: hex, then maybe `;extensions`, then CRLF.
 * Anything else is refused, not passed on: raw mode forwards this line to the client as it is, and
 * a bare CR or LF, or whitespace after the size, is framing a strict client (Node's own) rejects and
 * a lenient one may read differently from the router. llama-server, Node and Go send `<hex>\r\n`.
 */
function chunkSize(line: Buffer, from: number, to: number): number {
  let size = 0;
  let digits = 0;
  for (let i = from; i < to; i++) {
    const c = line[i]!;
    const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (v < 0) {
      if (digits > 0 && (c === 59 || c === CR) && lineRestIsPlain(line, i, to)) return size;
      break;
    }
    if (++digits > 12) break;
    size = size * 16 + v;
  }
  throw new ParseError(`a chunk size line that is not hex: ${JSON.stringify(line.subarray(from, Math.min(to, from + 40)).toString('latin1'))}`);
}

/** `line[at, to)` is CRLF, after tabs and visible characters only (extensions, whitespace). */
function lineRestIsPlain(line: Buffer, at: number, to: number): boolean {
  if (to - at < 2 || line[to - 2] !== CR || line[to - 1] !== LF) return false;
  for (let i = at; i < to - 2; i++) {
    const c = line[i]!;
    if ((c < 0x20 && c !== 9) || c === 0x7f) return false;
  }
  return true;
}
