/**
 * llama-server's OpenAI SSE stream → Ollama's NDJSON stream, one object per line: a line per
 * content (or thinking) delta, the tool calls once complete, then `done: true` with the counters.
 * An upstream error frame becomes Ollama's `{"error": ...}` line; a stream cut before it finished
 * ends with an error line too, never with a false `done`.
 *
 * A frame of plain text (see plain-delta-scan.ts: almost every frame of an answer) becomes its
 * line byte for byte, its text copied between cached bytes without being decoded; every other
 * event takes the full translation (`event`), which writes the same bytes for a plain one.
 */
import { doneReason, stats, toOllamaToolCall } from './ollama-chat.js';
import { PlainDeltaReader } from './plain-delta-reader.js';
import type { PlainDelta } from './plain-delta-scan.js';
import { eventText, SseByteParser, type SseSink } from './sse-byte-parser.js';

export type StreamKind = 'chat' | 'generate';

/** What the done line adds besides llama-server's counters. */
export interface DoneExtras {
  /** ms the request waited for its model to load (Ollama's load_duration). */
  loadMs?: number;
  /** More done-line fields from the whole response text (generate's `context`); the done line waits for them. */
  finish?: (response: string) => Promise<Record<string, unknown>>;
}

interface PartialCall {
  id?: string;
  name: string;
  arguments: string;
}

const THINKING = Buffer.from(',"thinking":');
const SLAB = 64 * 1024;
const NO_CONTENT = Buffer.from('""');

export class OllamaStreamTranslator {
  private readonly parser = new SseByteParser();
  private readonly sink: SseSink = {
    bytes: (buf, start, end) => {
      if (this.finished) return;
      if (this.reader.read(buf, start, end, this.delta)) this.plain(buf, this.delta);
      else out.text(this.event(eventText(buf, start, end)));
    },
    text: (data) => out.text(this.event(data)),
  };
  private readonly reader = new PlainDeltaReader();
  private readonly delta: PlainDelta = { content: -1, contentEnd: -1, thinking: -1, thinkingEnd: -1 };
  /** A text line's bytes before its text, for the timestamp `headAt`. */
  private lineHead = NO_CONTENT;
  private headAt = '';
  /** A text line's bytes after its text (and thinking). */
  private readonly tail: Buffer;
  private readonly calls: PartialCall[] = [];
  private finishReason: unknown = undefined;
  private last: Record<string, unknown> = {};
  private finished = false;
  private readonly nameJson: string;
  private isoAt = -1;
  private isoText = '';
  /** The response's text so far, for `extras.finish`: decoded pieces, or a plain frame's JSON string bytes. */
  private readonly text: Array<string | Buffer> = [];
  private held: Record<string, unknown> | undefined;

  constructor(
    private readonly kind: StreamKind,
    private readonly name: string,
    /** ms epoch (a number, not a Date: it is read for every line). */
    private readonly now: () => number = Date.now,
    private readonly startedAt: number = Date.now(),
    private readonly extras: DoneExtras = {},
  ) {
    this.nameJson = JSON.stringify(name);
    this.tail = Buffer.from(kind === 'generate' ? ',"done":false}\n' : '},"done":false}\n');
  }

  /** NDJSON lines (each ending in \n) for this chunk of upstream bytes. */
  push(chunk: Buffer): Buffer {
    out.begin();
    this.parser.push(chunk, this.sink);
    return out.take();
  }

  /** The closing line(s) once upstream ended. */
  end(): string {
    out.begin();
    this.parser.end(this.sink);
    return out.take().toString() + this.close();
  }

  /** After the last event: a done line if the answer finished without [DONE], else an error line. */
  close(): string {
    if (this.finished) return '';
    return this.finishReason === undefined ? this.error('the model\'s instance closed the stream before the answer was complete') : this.done();
  }

  /** A plain frame's line, as `piece` writes it: the same bytes. */
  private plain(buf: Buffer, d: PlainDelta): void {
    const content = d.content >= 0 && d.contentEnd - d.content > 2;
    const thinking = d.thinking >= 0 && d.thinkingEnd - d.thinking > 2;
    if (!content && !thinking) return;
    if (content && this.extras.finish) this.text.push(Buffer.from(buf.subarray(d.content, d.contentEnd)));
    const iso = this.iso();
    if (iso !== this.headAt) {
      this.headAt = iso;
      const field = this.kind === 'generate' ? '"response":' : '"message":{"role":"assistant","content":';
      this.lineHead = Buffer.from(`{"model":${this.nameJson},"created_at":"${iso}",${field}`);
    }
    out.bytes(this.lineHead, 0, this.lineHead.length);
    if (content) out.bytes(buf, d.content, d.contentEnd);
    else out.bytes(NO_CONTENT, 0, 2);
    if (thinking) {
      out.bytes(THINKING, 0, THINKING.length);
      out.bytes(buf, d.thinking, d.thinkingEnd);
    }
    out.bytes(this.tail, 0, this.tail.length);
  }

  /** The full translation of one event's data (also the reference the plain lines are tested against). */
  event(data: string): string {
    if (this.finished) return '';
    if (data.trim() === '[DONE]') return this.done();
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return this.error('the model\'s instance sent a stream frame that is not JSON');
    }
    // (`null`, a list, a number: nothing to read, and not to be read as one)
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return this.error('the model\'s instance sent a stream frame that is not a JSON object');
    if (frame.error !== undefined && frame.error !== null) {
      const error = frame.error as { message?: unknown } | string;
      return this.error(typeof error === 'string' ? error : String(error.message ?? 'upstream error'));
    }
    if (frame.usage || frame.timings) this.last = { ...this.last, ...frame };
    const choice = (frame.choices as unknown[] | undefined)?.[0] as
      | { delta?: { content?: string | null; reasoning_content?: string | null; tool_calls?: unknown[] }; text?: string; finish_reason?: unknown }
      | undefined;
    if (!choice) return '';
    let out = '';
    const content = choice.text ?? choice.delta?.content ?? '';
    const thinking = choice.delta?.reasoning_content ?? '';
    if (content !== '' || thinking !== '') out += this.piece(content, thinking);
    const calls = choice.delta?.tool_calls;
    if (Array.isArray(calls)) for (const raw of calls as unknown[]) if (typeof raw === 'object' && raw !== null) this.accumulate(raw);
    if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
      this.finishReason = choice.finish_reason;
      if (this.calls.length > 0) {
        out += this.line({ ...this.head(), message: { role: 'assistant', content: '', tool_calls: this.calls.map((c, i) => toOllamaToolCall({ id: c.id, function: c }, i)) }, done: false });
        this.calls.length = 0;
      }
    }
    return out;
  }

  /** Streamed tool calls arrive as fragments keyed by index: the name once, the arguments in pieces. */
  private accumulate(raw: unknown): void {
    const fragment = raw as { index?: number; id?: string; function?: { name?: string; arguments?: string } };
    const index = fragment.index ?? this.calls.length;
    const call = (this.calls[index] ??= { name: '', arguments: '' });
    if (fragment.id) call.id = fragment.id;
    if (fragment.function?.name) call.name += fragment.function.name;
    if (fragment.function?.arguments) call.arguments += fragment.function.arguments;
  }

  /** The done line held for `extras.finish`, completed; '' when none is held. */
  async finish(): Promise<string> {
    const held = this.held;
    if (!held || !this.extras.finish) return '';
    this.held = undefined;
    const text = this.text.map((piece) => (typeof piece === 'string' ? piece : (JSON.parse(piece.toString()) as string))).join('');
    return this.line({ ...held, ...(await this.extras.finish(text).catch(() => ({}))) });
  }

  /** The hot path (one line per token): written as text, not built as an object and stringified. */
  private piece(content: string, thinking: string): string {
    if (this.extras.finish && content !== '') this.text.push(content);
    const think = thinking ? `,"thinking":${JSON.stringify(thinking)}` : '';
    const head = `{"model":${this.nameJson},"created_at":"${this.iso()}",`;
    if (this.kind === 'generate') return `${head}"response":${JSON.stringify(content)}${think},"done":false}\n`;
    return `${head}"message":{"role":"assistant","content":${JSON.stringify(content)}${think}},"done":false}\n`;
  }

  /** The same timestamp text for every line of one millisecond. */
  private iso(): string {
    const ms = this.now();
    if (ms !== this.isoAt) {
      this.isoAt = ms;
      this.isoText = new Date(ms).toISOString();
    }
    return this.isoText;
  }

  private done(): string {
    this.finished = true;
    const last = this.kind === 'generate' ? { response: '' } : { message: { role: 'assistant', content: '' } };
    const done = { ...this.head(), ...last, done: true, done_reason: doneReason(this.finishReason), ...stats(this.last, Date.now() - this.startedAt, this.extras.loadMs) };
    if (!this.extras.finish) return this.line(done);
    this.held = done;
    return '';
  }

  private error(message: string): string {
    this.finished = true;
    return this.line({ error: message });
  }

  private head(): Record<string, unknown> {
    return { model: this.name, created_at: this.iso() };
  }

  private line(value: unknown): string {
    return `${JSON.stringify(value)}\n`;
  }
}

/**
 * The bytes of one push, written by every translator (a push runs to its end synchronously) into
 * one slab and handed over as a view of it: the slab is replaced, never reused, once full. Short
 * copies are a loop: Buffer.copy's call costs more than the bytes.
 */
const out = new (class {
  private slab = Buffer.allocUnsafe(SLAB);
  private from = 0;
  private used = 0;

  /** Drops what a push that threw left behind: it is another stream's. */
  begin(): void {
    this.used = this.from;
    // A slab grown for one large line (a tool call's arguments) is not kept for the process's life.
    if (this.slab.length > SLAB) {
      this.slab = Buffer.allocUnsafe(SLAB);
      this.from = this.used = 0;
    }
  }

  bytes(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.room(n);
    const slab = this.slab;
    let at = this.used;
    if (n > 64) src.copy(slab, at, start, end);
    else for (let i = start; i < end; i++) slab[at++] = src[i]!;
    this.used += n;
  }

  text(text: string): void {
    if (text === '') return;
    this.room(Buffer.byteLength(text));
    this.used += this.slab.write(text, this.used);
  }

  take(): Buffer {
    const taken = this.slab.subarray(this.from, this.used);
    this.from = this.used;
    return taken;
  }

  private room(n: number): void {
    if (this.used + n <= this.slab.length) return;
    const pending = this.used - this.from;
    const slab = Buffer.allocUnsafe(Math.max(SLAB, (pending + n) * 2));
    this.slab.copy(slab, 0, this.from, this.used);
    this.slab = slab;
    this.from = 0;
    this.used = pending;
  }
})();
