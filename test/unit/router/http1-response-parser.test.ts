// The router's upstream answers, parsed from reads cut anywhere: decoded, and passed on raw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { Framing, ParseError, RAW_HOLD_MAX, ResponseParser, SSE_RAW_HOLD_MAX, type ResponseHead } from '../../../src/router/http1-response-parser.js';

interface Seen {
  heads: ResponseHead[];
  data: Buffer[];
  raw: Buffer[];
  ends: number;
}

function parser(options: { headRequest?: boolean; rawFromStart?: boolean; holdMax?: number } = {}): { p: ResponseParser; seen: Seen } {
  const seen: Seen = { heads: [], data: [], raw: [], ends: 0 };
  const p = new ResponseParser(
    {
      head: (h) => seen.heads.push(h),
      data: (b) => seen.data.push(Buffer.from(b)),
      raw: (b) => seen.raw.push(Buffer.from(b)),
      end: () => seen.ends++,
    },
    options.headRequest,
  );
  if (options.rawFromStart) p.passRaw(options.holdMax);
  return { p, seen };
}

function feedCut(p: ResponseParser, bytes: Buffer, cuts: number[]): void {
  let from = 0;
  for (const cut of [...[...new Set(cuts)].sort((a, b) => a - b), bytes.length]) {
    if (cut > from) p.feed(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
}

const chunked = (pieces: string[], extra = '') =>
  pieces.map((s) => `${Buffer.byteLength(s).toString(16)}${extra}\r\n${s}\r\n`).join('');

const SSE = Array.from({ length: 12 }, (_, i) => `data: {"choices":[{"delta":{"content":"tök${i}"}}]}\n\n`);
const STREAM_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\n';
const STREAM = Buffer.from(STREAM_HEAD + chunked(SSE) + '0\r\n\r\n');
const cuts = fc.array(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 12 });

/** Whole chunks only: what the client is sent must parse as complete chunks after every piece. */
function decodeWholeChunks(bytes: Buffer): string {
  return decodeChunks(bytes).toString('utf8');
}

function decodeChunks(bytes: Buffer): Buffer {
  let at = 0;
  const out: Buffer[] = [];
  while (at < bytes.length) {
    const lf = bytes.indexOf('\r\n', at);
    expect(lf).toBeGreaterThan(at);
    const size = parseInt(bytes.subarray(at, lf).toString('latin1'), 16);
    expect(size).toBeGreaterThan(0);
    const end = lf + 2 + size;
    expect(bytes.subarray(end, end + 2).toString('latin1')).toBe('\r\n');
    out.push(bytes.subarray(lf + 2, end));
    at = end + 2;
  }
  return Buffer.concat(out);
}

/** Byte i of a body is i % 251: any byte lost, doubled or moved shows. */
function pattern(from: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (from + i) % 251;
  return out;
}

/** Chunk sizes: tokens, around the hold bound, and several reads long. */
const chunkSizes = fc.array(
  fc.oneof(
    fc.integer({ min: 1, max: 64 }),
    fc.integer({ min: RAW_HOLD_MAX - 40, max: RAW_HOLD_MAX + 40 }),
    // around the parser's 4 KiB / 16 KiB staging of small held pieces
    fc.integer({ min: 4096 - 20, max: 4096 + 20 }),
    fc.integer({ min: 16_384 - 20, max: 16_384 + 20 }),
    fc.integer({ min: 1, max: 300_000 }),
  ),
  { minLength: 1, maxLength: 6 },
);
/** Where reads end: anywhere (a fraction of the input), or a few bytes around a size line, a chunk's data or its CRLF. */
const readEnds = fc.array(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.record({ mark: fc.nat(), by: fc.integer({ min: -3, max: 3 }) })), { maxLength: 40 });

describe('upstream answer parser', () => {
  it('reads a chunked stream the same wherever the reads cut it: headers, decoded body, one end', () => {
    fc.assert(
      fc.property(cuts, (at) => {
        const { p, seen } = parser();
        feedCut(p, STREAM, at);
        expect(seen.heads).toHaveLength(1);
        expect(seen.heads[0]).toMatchObject({ status: 200, framing: Framing.Chunked, keepAlive: true });
        expect(seen.heads[0]!.headers['content-type']).toBe('text/event-stream');
        expect(seen.heads[0]!.headers['set-cookie']).toEqual(['a', 'b']);
        expect(Buffer.concat(seen.data).toString('utf8')).toBe(SSE.join(''));
        expect(seen.ends).toBe(1);
        expect(p.done).toBe(true);
      }),
    );
  });

  it('passes a chunked body on raw as whole chunks, never the last chunk, wherever the reads cut it', () => {
    fc.assert(
      fc.property(cuts, (at) => {
        const { p, seen } = parser({ rawFromStart: true });
        feedCut(p, STREAM, at);
        expect(seen.data).toHaveLength(0);
        // Each piece on its own is whole chunks: a client can be sent an error chunk after any of them.
        for (const piece of seen.raw) decodeWholeChunks(piece);
        expect(Buffer.concat(seen.raw).toString('latin1')).toBe(Buffer.from(chunked(SSE)).toString('latin1'));
        expect(seen.ends).toBe(1);
      }),
    );
  });

  it('passes large chunks on decodable and holds at most the hold limit, wherever the reads cut them', () => {
    fc.assert(
      // Raw from the start, or from after some read (decoded before: the consumer came late); the
      // default limit, an event stream's, or one smaller than a staging buffer.
      fc.property(chunkSizes, readEnds, fc.boolean(), fc.option(fc.nat(40)), fc.constantFrom(RAW_HOLD_MAX, SSE_RAW_HOLD_MAX, 4096), (sizes, ends, extension, rawAfter, holdMax) => {
        let body = 0;
        const framed: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n')];
        let length = framed[0]!.length;
        const marks: number[] = [];
        const add = (bytes: Buffer) => {
          marks.push(length);
          framed.push(bytes);
          length += bytes.length;
        };
        for (const size of sizes) {
          add(Buffer.from(`${size.toString(16)}${extension ? ';x=y' : ''}\r\n`));
          add(pattern(body, size));
          add(Buffer.from('\r\n'));
          body += size;
        }
        add(Buffer.from('0\r\nx-trailer: 1\r\n\r\n'));
        const input = Buffer.concat(framed);
        const cuts = ends.map((e) => (typeof e === 'number' ? Math.floor(e * input.length) : marks[e.mark % marks.length]! + e.by));
        const { p, seen } = parser({ rawFromStart: rawAfter === null, holdMax });
        let from = 0;
        let reads = 0;
        for (const cut of [...cuts.filter((c) => c > 0 && c < input.length).sort((a, b) => a - b), input.length]) {
          if (cut === from) continue;
          p.feed(input.subarray(from, cut));
          from = cut;
          expect(p.heldBytes).toBeLessThanOrEqual(holdMax);
          if (reads++ === rawAfter) p.passRaw(holdMax);
        }
        if (rawAfter === null) expect(seen.data).toHaveLength(0);
        // Each raw piece on its own is whole chunks (an error frame may follow any of them); decoded, then raw, they are the body.
        const decoded = Buffer.concat([...seen.data, ...seen.raw.map(decodeChunks)]);
        expect(decoded.length).toBe(body);
        expect(decoded.equals(pattern(0, body))).toBe(true);
        expect(seen.ends).toBe(1);
        expect(p.heldBytes).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('passes a large chunk that came in one read on as it came; one that did not, from its first read', () => {
    const big = pattern(0, 3 * RAW_HOLD_MAX);
    const input = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')]);
    const whole = parser({ rawFromStart: true });
    whole.p.feed(input);
    expect(whole.seen.raw).toHaveLength(1);
    expect(whole.seen.raw[0]!.equals(input.subarray(input.indexOf('\r\n\r\n') + 4, input.length - 5))).toBe(true);

    const cut = parser({ rawFromStart: true });
    const firstRead = input.indexOf('\r\n\r\n') + 4 + RAW_HOLD_MAX + 100;
    cut.p.feed(input.subarray(0, firstRead));
    // More than the bound arrived of a chunk not yet complete: it goes on now, framed by the router.
    expect(cut.seen.raw).toHaveLength(1);
    expect(decodeChunks(cut.seen.raw[0]!).equals(big.subarray(0, RAW_HOLD_MAX + 100 - `${big.length.toString(16)}\r\n`.length))).toBe(true);
    cut.p.feed(input.subarray(firstRead));
    expect(Buffer.concat(cut.seen.raw.map(decodeChunks)).equals(big)).toBe(true);
  });

  it('one raw piece per read however many chunks it holds', () => {
    const { p, seen } = parser({ rawFromStart: true });
    p.feed(STREAM);
    expect(seen.raw).toHaveLength(1);
  });

  it('switches to raw only at a chunk boundary: decoded before, raw after, nothing lost or doubled', () => {
    fc.assert(
      fc.property(cuts, fc.nat(), (at, when) => {
        const { p, seen } = parser();
        const sorted = [...new Set(at)].sort((a, b) => a - b);
        let from = 0;
        const switchAfter = sorted.length === 0 ? 0 : when % sorted.length;
        sorted.push(STREAM.length);
        sorted.forEach((cut, i) => {
          if (cut > from) p.feed(STREAM.subarray(from, cut));
          from = Math.max(from, cut);
          if (i === switchAfter) p.passRaw();
        });
        for (const piece of seen.raw) decodeWholeChunks(piece);
        const decoded = Buffer.concat(seen.data).toString('utf8');
        const fromRaw = seen.raw.map((r) => decodeWholeChunks(r)).join('');
        expect(decoded + fromRaw).toBe(SSE.join(''));
      }),
    );
  });

  it('reads content-length answers, chunk extensions and trailers', () => {
    const body = '{"ok":true}';
    const a = parser();
    feedCut(a.p, Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`), [3, 20, 40]);
    expect(a.seen.heads[0]).toMatchObject({ framing: Framing.Length, keepAlive: true });
    expect(Buffer.concat(a.seen.data).toString()).toBe(body);
    expect(a.seen.ends).toBe(1);

    const b = parser({ rawFromStart: true });
    b.p.feed(Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${chunked(['ab', 'c'], ';x=1')}0\r\nx-trailer: 1\r\n\r\n`));
    expect(decodeWholeChunks(Buffer.concat(b.seen.raw))).toBe('abc');
    expect(b.seen.ends).toBe(1);
  });

  it('knows answers without a body, skips 100 Continue, and which connections may be reused', () => {
    const none = (text: string, headRequest = false) => {
      const { p, seen } = parser({ headRequest });
      p.feed(Buffer.from(text));
      expect(seen.ends).toBe(1);
      expect(seen.data).toHaveLength(0);
      return seen.heads[0]!;
    };
    expect(none('HTTP/1.1 204 No Content\r\n\r\n').framing).toBe(Framing.None);
    expect(none('HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n').framing).toBe(Framing.None);
    expect(none('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n', true).framing).toBe(Framing.None);
    expect(none('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n').status).toBe(200);
    expect(none('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nConnection: close\r\n\r\n').keepAlive).toBe(false);
    expect(none('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n').keepAlive).toBe(false);
    expect(none('HTTP/1.0 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n').keepAlive).toBe(true);
  });

  it('a body without a length ends with the connection, and is never reused', () => {
    const { p, seen } = parser();
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\nsome'));
    p.feed(Buffer.from(' bytes'));
    expect(seen.heads[0]).toMatchObject({ framing: Framing.Close, keepAlive: false });
    expect(seen.ends).toBe(0);
    p.finish();
    expect(Buffer.concat(seen.data).toString()).toBe('some bytes');
    expect(seen.ends).toBe(1);
  });

  it('refuses what is not a well-formed answer, and a connection cut mid-answer', () => {
    const fails = (text: string | Buffer, finish = false) => {
      const { p } = parser();
      return () => {
        p.feed(Buffer.from(text));
        if (finish) p.finish();
      };
    };
    expect(fails('SSH-2.0-OpenSSH\r\n\r\n')).toThrow(ParseError);
    expect(fails('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n')).toThrow(/transfer-encoding/);
    expect(fails('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n')).toThrow(/transfer-encoding/);
    // What Node would refuse to pass on to the client (and the answer's slot would be held by it).
    expect(fails('HTTP/1.1 200 OK\r\nx-bad: a\x01b\r\ncontent-length: 0\r\n\r\n')).toThrow(/control character/);
    expect(fails('HTTP/1.1 200 OK\r\nbad name: v\r\ncontent-length: 0\r\n\r\n')).toThrow(/not a token/);
    expect(fails('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n')).toThrow(/upgrade/);
    expect(fails('HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n')).toThrow(/content-length/);
    expect(fails('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n')).toThrow(/not hex/);
    expect(fails('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabcd')).toThrow(/CRLF/);
    expect(fails(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70_000)}`)).toThrow(/too large/);
    expect(fails('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nabEXTRA')).toThrow(/after its answer/);
    expect(fails('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab', true)).toThrow(/closed before/);
    expect(fails('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab', true)).toThrow(/closed before/);
  });

  it('refuses a chunk size line that does not end in CRLF or holds a control character (raw mode would pass it on)', () => {
    const line = (size: string, readCut: number | null = null) => {
      const { p, seen } = parser({ rawFromStart: true });
      const text = Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${size}hello\r\n0\r\n\r\n`, 'latin1');
      const at = readCut === null ? [] : [text.indexOf(size) + readCut];
      return () => {
        feedCut(p, text, at);
        return decodeWholeChunks(Buffer.concat(seen.raw));
      };
    };
    // Whitespace after the size too (RFC 9112 allows it only before ';', and Node's own client refuses it even there).
    for (const bad of ['5;x\n', '5\rX\n', '5\t;\r\r\n', '5\n', '5;a\x00b\r\n', '5;\x7f\r\n', '5 6\r\n', '5 \r\n', '5\t\r\n', '5 ;x=1\r\n']) {
      expect(line(bad), JSON.stringify(bad)).toThrow(ParseError);
      // the same with the line cut between reads
      expect(line(bad, 2), JSON.stringify(bad)).toThrow(ParseError);
    }
    for (const good of ['5\r\n', '5;x=1\r\n', '5;x="a b"\r\n', '5;a;b=c\r\n', 'A\r\n'.replace('A', '5')]) {
      expect(line(good)(), JSON.stringify(good)).toBe('hello');
      expect(line(good, 1)(), JSON.stringify(good)).toBe('hello');
    }
  });

  it('a chunk arriving a byte per read is held in a few buffers, not one per read, and passed on whole', () => {
    const event = `data: {"x":"${'y'.repeat(60_000)}"}\n\n`;
    const text = Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${chunked([event])}0\r\n\r\n`);
    const { p, seen } = parser({ rawFromStart: true, holdMax: 1024 * 1024 });
    const start = text.indexOf('\r\n\r\n') + 4;
    p.feed(text.subarray(0, start));
    let most = 0;
    for (let i = start; i < text.length; i++) {
      p.feed(text.subarray(i, i + 1));
      most = Math.max(most, p.heldPieces);
    }
    expect(most).toBeLessThanOrEqual(Math.ceil(event.length / (16 * 1024)) + 1);
    expect(seen.raw).toHaveLength(1);
    expect(decodeWholeChunks(seen.raw[0]!)).toBe(event);
    expect(seen.ends).toBe(1);
  });

  it('holds a chunk spanning reads whole up to the limit its consumer asked for', () => {
    const big = 'x'.repeat(3 * RAW_HOLD_MAX);
    const text = Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${chunked([big])}0\r\n\r\n`);
    const cuts = [100, 100 + RAW_HOLD_MAX, 100 + 2 * RAW_HOLD_MAX + 7];
    const whole = parser({ rawFromStart: true, holdMax: 4 * RAW_HOLD_MAX });
    feedCut(whole.p, text, cuts);
    // one piece, upstream's own chunk as it came
    expect(whole.seen.raw).toHaveLength(1);
    expect(whole.seen.raw[0]!.toString('latin1')).toBe(chunked([big]));
    const bounded = parser({ rawFromStart: true });
    feedCut(bounded.p, text, cuts);
    expect(bounded.seen.raw.length).toBeGreaterThan(1);
    expect(bounded.seen.raw.map((piece) => decodeWholeChunks(piece)).join('')).toBe(big);
  });
});
