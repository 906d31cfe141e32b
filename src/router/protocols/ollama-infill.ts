/**
 * POST /api/generate with `suffix` (fill-in-the-middle) ⇄ llama-server's POST /infill: `prompt` is
 * the code before the cursor (`input_prefix`), `suffix` the code after it (`input_suffix`).
 * llama-server builds the FIM prompt from the model's own FIM tokens, as Ollama does from the
 * model's template. /infill answers in llama-server's native shape (`content`, `stop`,
 * `stop_type`, `timings`), not OpenAI's, so it has its own small translators here.
 */
import { stats } from './ollama-chat.js';
import type { DoneExtras } from './ollama-stream.js';
import { eventText, SseByteParser, type SseSink } from './sse-byte-parser.js';

/** /infill's body: the sampling fields of a completion, with max_tokens under its native name. */
export function infillBody(prompt: string, suffix: string, fields: Record<string, unknown>, stream: boolean): Record<string, unknown> {
  const { max_tokens: maxTokens, ...rest } = fields;
  return {
    ...rest,
    ...(maxTokens === undefined ? {} : { n_predict: maxTokens }),
    input_prefix: prompt,
    input_suffix: suffix,
    prompt: '',
    stream,
  };
}

interface Native {
  content?: string;
  stop?: boolean;
  stop_type?: string;
  timings?: unknown;
  error?: { message?: string } | string;
}

function doneReason(frame: Native): string {
  return frame.stop_type === 'limit' ? 'length' : 'stop';
}

/** A non-streamed /infill answer → Ollama's single generate response. */
export function translateInfillResponse(upstream: Record<string, unknown>, name: string, createdAt: string, totalMs: number, loadMs = 0): Record<string, unknown> {
  const frame = upstream as Native;
  return { model: name, created_at: createdAt, response: frame.content ?? '', done: true, done_reason: doneReason(frame), ...stats(upstream, totalMs, loadMs) };
}

/**
 * llama-server's message when the model has no FIM tokens, as Ollama words it ("does not support
 * insert", 400: the request asks for something this model cannot do).
 */
export function infillRefusal(name: string, status: number, message: string): { status: number; error: string } | undefined {
  if (status !== 501 && !/infill is not supported/i.test(message)) return undefined;
  return { status: 400, error: `${name} does not support insert: ${message.trim()}` };
}

/** The native SSE stream of /infill (`data: {"content": ..., "stop": false}` … `"stop": true`) → Ollama's NDJSON lines. */
export class InfillStreamTranslator {
  private readonly parser = new SseByteParser();
  private finished = false;
  /** The lines of the push under way. */
  private out = '';
  private readonly sink: SseSink = {
    bytes: (buf, start, end) => {
      this.out += this.event(eventText(buf, start, end));
    },
    text: (data) => {
      this.out += this.event(data);
    },
  };

  constructor(
    private readonly name: string,
    /** ms epoch, as OllamaStreamTranslator's. */
    private readonly now: () => number,
    private readonly startedAt: number,
    private readonly extras: DoneExtras = {},
  ) {}

  push(chunk: Buffer): string {
    this.out = '';
    this.parser.push(chunk, this.sink);
    return this.out;
  }

  end(): string {
    this.out = '';
    this.parser.end(this.sink);
    const out = this.out;
    return this.finished ? out : out + this.line({ error: "the model's instance closed the stream before the answer was complete" });
  }

  finish(): Promise<string> {
    return Promise.resolve('');
  }

  private event(data: string): string {
    if (this.finished || data.trim() === '[DONE]') return '';
    let frame: Native;
    try {
      frame = JSON.parse(data) as Native;
    } catch {
      return this.fail("the model's instance sent a stream frame that is not JSON");
    }
    if (frame.error !== undefined) {
      return this.fail(typeof frame.error === 'string' ? frame.error : String(frame.error.message ?? 'upstream error'));
    }
    const head = { model: this.name, created_at: new Date(this.now()).toISOString() };
    let out = frame.content ? this.line({ ...head, response: frame.content, done: false }) : '';
    if (frame.stop) {
      this.finished = true;
      const counters = stats(frame as Record<string, unknown>, Date.now() - this.startedAt, this.extras.loadMs);
      out += this.line({ ...head, response: '', done: true, done_reason: doneReason(frame), ...counters });
    }
    return out;
  }

  private fail(message: string): string {
    this.finished = true;
    return this.line({ error: message });
  }

  private line(value: unknown): string {
    return `${JSON.stringify(value)}\n`;
  }
}
