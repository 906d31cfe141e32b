/**
 * llama-server's OpenAI SSE stream → Ollama's NDJSON stream, one object per line: a line per
 * content (or thinking) delta, the tool calls once complete, then `done: true` with the counters.
 * An upstream error frame becomes Ollama's `{"error": ...}` line; a stream cut before it finished
 * ends with an error line too, never with a false `done`.
 */
import { doneReason, stats, toOllamaToolCall } from './ollama-chat.js';
import { SseParser } from './sse-parser.js';

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

export class OllamaStreamTranslator {
  private readonly parser = new SseParser();
  private readonly calls: PartialCall[] = [];
  private finishReason: unknown = undefined;
  private last: Record<string, unknown> = {};
  private finished = false;
  private readonly nameJson: string;
  private isoAt = -1;
  private isoText = '';
  private text = '';
  private held: Record<string, unknown> | undefined;

  constructor(
    private readonly kind: StreamKind,
    private readonly name: string,
    private readonly now: () => Date = () => new Date(),
    private readonly startedAt: number = Date.now(),
    private readonly extras: DoneExtras = {},
  ) {
    this.nameJson = JSON.stringify(name);
  }

  /** NDJSON lines (each ending in \n) for this chunk of upstream bytes. */
  push(chunk: Uint8Array | string): string {
    let out = '';
    for (const data of this.parser.push(chunk)) out += this.event(data);
    return out;
  }

  /** The closing line(s) once upstream ended. */
  end(): string {
    let out = this.parser.end().map((data) => this.event(data)).join('');
    if (!this.finished) {
      out += this.finishReason === undefined
        ? this.error('the model\'s instance closed the stream before the answer was complete')
        : this.done();
    }
    return out;
  }

  private event(data: string): string {
    if (this.finished) return '';
    if (data.trim() === '[DONE]') return this.done();
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return this.error('the model\'s instance sent a stream frame that is not JSON');
    }
    if (frame.error !== undefined) {
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
    for (const raw of choice.delta?.tool_calls ?? []) this.accumulate(raw);
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
    return this.line({ ...held, ...(await this.extras.finish(this.text).catch(() => ({}))) });
  }

  /** The hot path (one line per token): written as text, not built as an object and stringified. */
  private piece(content: string, thinking: string): string {
    if (this.extras.finish) this.text += content;
    const think = thinking ? `,"thinking":${JSON.stringify(thinking)}` : '';
    const head = `{"model":${this.nameJson},"created_at":"${this.iso()}",`;
    if (this.kind === 'generate') return `${head}"response":${JSON.stringify(content)}${think},"done":false}\n`;
    return `${head}"message":{"role":"assistant","content":${JSON.stringify(content)}${think}},"done":false}\n`;
  }

  /** The same timestamp text for every line of one millisecond. */
  private iso(): string {
    const now = this.now();
    const ms = now.getTime();
    if (ms !== this.isoAt) {
      this.isoAt = ms;
      this.isoText = now.toISOString();
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
