/**
 * Recognises, in the bytes of one SSE data payload, the frame that makes up almost all of a
 * streamed answer: a chat.completion.chunk whose one choice carries only text (`content`,
 * `reasoning_content`, or a completion's `text`) and no finish reason, tool call, usage, timings or
 * error — in any key order (llama-server writes `choices` first, other servers do not). For that
 * frame it finds where the text's JSON strings lie, so they can be copied into Ollama's line as
 * they are instead of decoded and encoded again.
 *
 * A string is only reported when its bytes are exactly what JSON.stringify would write for the
 * decoded text (valid UTF-8, only the escapes JSON.stringify itself uses); anything else, and any
 * frame that is not valid JSON or not this simple, answers false and is translated the long way.
 */

/** Byte ranges (quotes included) of a frame's texts; start -1 when absent or null. */
export interface PlainDelta {
  content: number;
  contentEnd: number;
  thinking: number;
  thinkingEnd: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const key = (text: string) => Buffer.from(text, 'latin1');
const CHOICES = key('choices');
const USAGE = key('usage');
const TIMINGS = key('timings');
const ERROR = key('error');
const DELTA = key('delta');
const FINISH = key('finish_reason');
const TEXT = key('text');
const CONTENT = key('content');
const REASONING = key('reasoning_content');
const TOOL_CALLS = key('tool_calls');
const NULL = key('null');
const TRUE = key('true');
const FALSE = key('false');

/** The scan's state: one scan runs at a time (synchronously), so it is shared. */
const EMPTY = Buffer.alloc(0);
let b: Buffer = EMPTY;
let end = 0;
let choices = false;
let delta = false;
/** Each text's string, [start, end) from `slot`: a completion's text, the content, the reasoning; -1 when absent or null. */
const spans = new Int32Array(6);
const TEXT_AT = 0;
const CONTENT_AT = 2;
const THINKING_AT = 4;

const FRAME = 0;
const CHOICE = 1;
const DELTA_FIELDS = 2;

export function scanPlainDelta(buf: Buffer, start: number, stop: number, out: PlainDelta): boolean {
  b = buf;
  end = stop;
  choices = delta = false;
  spans.fill(-1);
  const p = object(ws(start), FRAME);
  const whole = p >= 0 && ws(p) === end;
  b = EMPTY; // the upstream's read: not kept alive past the scan
  if (!whole) return false;
  // A completion's `text` wins over a delta's content, as in the full translation.
  const content = spans[TEXT_AT]! >= 0 ? TEXT_AT : CONTENT_AT;
  out.content = spans[content]!;
  out.contentEnd = spans[content + 1]!;
  out.thinking = spans[THINKING_AT]!;
  out.thinkingEnd = spans[THINKING_AT + 1]!;
  return true;
}

/** The position after the string at `p` in `buf[.., stop)` when it is kept verbatim (see `verbatim`), else -1. */
export function scanVerbatimString(buf: Buffer, p: number, stop: number): number {
  b = buf;
  end = stop;
  const after = verbatim(p);
  b = EMPTY;
  return after;
}

/** The byte at `p`, -1 past the payload. */
function ch(p: number): number {
  return p < end ? b[p]! : -1;
}

/**
 * An object at `p`, its values read as `where` says: the position after its `}`, or -1. A key
 * that matters seen twice is refused (JSON.parse keeps the last one).
 */
function object(p: number, where: number): number {
  if (ch(p) !== 0x7b) return -1;
  for (p = ws(p + 1); ch(p) !== 0x7d; ) {
    const k = p;
    const ke = keyEnd(p);
    if (ke < 0) return -1;
    p = colon(ke);
    if (p < 0) return -1;
    p = next(where === FRAME ? frameField(k, ke, p) : where === CHOICE ? choiceField(k, ke, p) : deltaField(k, ke, p));
    if (p < 0) return -1;
  }
  return p + 1;
}

function frameField(k: number, ke: number, at: number): number {
  if (is(k, ke, CHOICES)) {
    if (choices) return -1;
    choices = true;
    return choiceList(at);
  }
  if (is(k, ke, USAGE) || is(k, ke, TIMINGS) || is(k, ke, ERROR)) return -1;
  return scalar(at);
}

/** `[]` or `[{choice}]` (the full translation reads only the first choice; more are left to it). */
function choiceList(p: number): number {
  if (ch(p) !== 0x5b) return -1;
  p = ws(p + 1);
  if (ch(p) === 0x5d) return p + 1;
  p = object(p, CHOICE);
  if (p < 0) return -1;
  p = ws(p);
  return ch(p) === 0x5d ? p + 1 : -1;
}

function choiceField(k: number, ke: number, at: number): number {
  if (is(k, ke, DELTA)) {
    if (delta) return -1;
    delta = true;
    return object(at, DELTA_FIELDS);
  }
  if (is(k, ke, FINISH)) return literal(at, NULL);
  if (is(k, ke, TEXT)) return textField(TEXT_AT, at);
  return scalar(at);
}

function deltaField(k: number, ke: number, at: number): number {
  if (is(k, ke, CONTENT)) return textField(CONTENT_AT, at);
  if (is(k, ke, REASONING)) return textField(THINKING_AT, at);
  if (is(k, ke, TOOL_CALLS)) return -1;
  return scalar(at);
}

/** A text: null, or a string kept verbatim, its span noted; after a string, a second value is refused. */
function textField(slot: number, at: number): number {
  if (spans[slot]! >= 0) return -1;
  if (ch(at) !== QUOTE) return literal(at, NULL);
  const after = verbatim(at);
  spans[slot] = at;
  spans[slot + 1] = after;
  return after;
}

/** After a value: past a `,` to the next key, or at the object's `}`; -1 otherwise. */
function next(p: number): number {
  if (p < 0) return -1;
  p = ws(p);
  const c = ch(p);
  if (c === 0x2c) {
    p = ws(p + 1);
    return ch(p) === QUOTE ? p : -1;
  }
  return c === 0x7d ? p : -1;
}

/** The end of a key's string (its closing quote), or -1: keys with escapes are not recognised. */
function keyEnd(p: number): number {
  if (ch(p) !== QUOTE) return -1;
  for (let i = p + 1; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i;
    if (c === BACKSLASH || c < 0x20) return -1;
  }
  return -1;
}

function colon(ke: number): number {
  const p = ws(ke + 1);
  return ch(p) === 0x3a ? ws(p + 1) : -1;
}

/** Whether the key's bytes (between its quotes) are `name`. */
function is(k: number, ke: number, name: Buffer): boolean {
  if (ke - k - 1 !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (b[k + 1 + i] !== name[i]) return false;
  return true;
}

function ws(p: number): number {
  while (p < end) {
    const c = b[p];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
    p++;
  }
  return p;
}

function literal(p: number, word: Buffer): number {
  if (p + word.length > end) return -1;
  for (let i = 0; i < word.length; i++) if (b[p + i] !== word[i]) return -1;
  return p + word.length;
}

/** A string, number, true, false or null (not an object or list): the position after it, or -1. */
function scalar(p: number): number {
  const c = ch(p);
  if (c === QUOTE) return jsonString(p);
  if (c === 0x6e) return literal(p, NULL);
  if (c === 0x74) return literal(p, TRUE);
  if (c === 0x66) return literal(p, FALSE);
  return number(p);
}

/** Any valid JSON string: the position after its closing quote, or -1. */
function jsonString(p: number): number {
  for (let i = p + 1; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = ch(++i);
      if (e === 0x75) {
        for (let h = 0; h < 4; h++) if (anyHex(ch(++i)) < 0) return -1;
      } else if (!shortEscape(e, true)) return -1;
    }
  }
  return -1;
}

/**
 * A string whose bytes are what JSON.stringify writes for its text: raw valid UTF-8, `\"` `\\`
 * `\b` `\f` `\n` `\r` `\t`, and `\u00xx` (lowercase) for the other control characters.
 */
function verbatim(p: number): number {
  for (let i = p + 1; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = ch(++i);
      if (e === 0x75) {
        if (ch(i + 1) !== 0x30 || ch(i + 2) !== 0x30) return -1;
        const hi = ch(i + 3);
        const lo = hex(ch(i + 4));
        if ((hi !== 0x30 && hi !== 0x31) || lo < 0) return -1;
        const code = (hi - 0x30) * 16 + lo;
        if (code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return -1;
        i += 4;
      } else if (!shortEscape(e, false)) return -1;
    } else if (c >= 0x80) {
      i = utf8(i, c);
      if (i < 0) return -1;
    }
  }
  return -1;
}

/** `\"` `\\` `\b` `\f` `\n` `\r` `\t`; with `slash`, also `\/` (JSON allows it, JSON.stringify never writes it). */
function shortEscape(e: number, slash: boolean): boolean {
  return e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74 || (slash && e === 0x2f);
}

/** A well-formed UTF-8 sequence led by `c` at `i`: the index of its last byte, or -1. */
function utf8(i: number, c: number): number {
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 2;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 3;
    if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
  } else return -1;
  if (i + n >= end) return -1;
  const second = b[i + 1]!;
  if (second < lo || second > hi) return -1;
  for (let k = 2; k <= n; k++) {
    const t = b[i + k]!;
    if (t < 0x80 || t > 0xbf) return -1;
  }
  return i + n;
}

function number(p: number): number {
  let i = p;
  if (ch(i) === 0x2d) i++;
  if (ch(i) === 0x30) i++;
  else if (digit(ch(i))) while (digit(ch(i))) i++;
  else return -1;
  if (ch(i) === 0x2e) {
    if (!digit(ch(++i))) return -1;
    while (digit(ch(i))) i++;
  }
  const e = ch(i);
  if (e === 0x65 || e === 0x45) {
    i++;
    if (ch(i) === 0x2b || ch(i) === 0x2d) i++;
    if (!digit(ch(i))) return -1;
    while (digit(ch(i))) i++;
  }
  return i;
}

function digit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A hex digit's value in either case, else -1 (only A-F are lowered: `| 0x20` alone would make 0x10-0x19 digits). */
function anyHex(c: number): number {
  return hex(c >= 0x41 && c <= 0x46 ? c | 0x20 : c);
}

/** A lowercase hex digit's value, else -1. */
function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  return c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
}
