/**
 * Ollama's `context` for /api/generate: the token ids of the templated prompt plus the answer,
 * which clients send back on the next request to continue. Ollama detokenizes a received context
 * and puts the text before the new turn's templated prompt; llama-server can do each step
 * (/detokenize, /apply-template, /tokenize), none of which runs the model. Every step is one more
 * request through the queue, so the answer's context is computed only when it is cheap (the model
 * has a free slot and nobody waiting) or asked for (the request carried a `context`).
 */
import { RouterError } from '../types.js';
import type { ModelInfo } from '../types.js';

/** One upstream JSON call through RouterCore.forward. */
export type UpstreamCall = (path: string, body: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** `context` on input: a list of token ids; anything else is a 400. */
export function parseContext(value: unknown): number[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((t) => Number.isInteger(t) && (t as number) >= 0)) {
    throw new RouterError(400, 'bad_request', '"context" must be a list of token ids, as returned by a previous /api/generate');
  }
  return value as number[];
}

/** Whether a request to this model would be granted at once, so the context costs no queue turn. */
export function cheap(model: ModelInfo | undefined): boolean {
  return model !== undefined && model.state === 'ready' && model.queued === 0 && model.inFlight < model.maxConcurrency;
}

function text(answer: Record<string, unknown>, field: string, path: string): string {
  const value = answer[field];
  if (typeof value !== 'string') throw new RouterError(502, 'upstream_error', `the model's instance answered ${path} without "${field}"`);
  return value;
}

export class GenerateContext {
  /** The whole templated prompt (received context included), once known. */
  private prompt: string | undefined;

  constructor(
    private readonly call: UpstreamCall,
    /** The /v1/chat/completions body of this generate (its messages and template switches). */
    private readonly chat: Record<string, unknown>,
  ) {}

  /**
   * A received context: its text, then this turn's templated prompt, sent verbatim to
   * /v1/completions (the template is already applied) with the same sampling fields.
   */
  async prepend(tokens: number[]): Promise<Record<string, unknown>> {
    const before = tokens.length === 0 ? '' : text(await this.call('/detokenize', { tokens }), 'content', '/detokenize');
    this.prompt = before + (await this.templated());
    const { messages: _m, chat_template_kwargs: _k, reasoning_effort: _r, ...fields } = this.chat;
    return { ...fields, prompt: this.prompt };
  }

  /** The answer's context: the token ids of the templated prompt and the response. */
  async tokens(response: string): Promise<number[]> {
    this.prompt ??= await this.templated();
    const answer = await this.call('/tokenize', { content: this.prompt + response });
    const tokens = answer.tokens;
    if (!Array.isArray(tokens)) throw new RouterError(502, 'upstream_error', 'the model\'s instance answered /tokenize without "tokens"');
    // with_pieces answers objects; plain ids are what clients send back
    return tokens.map((t) => (typeof t === 'number' ? t : (t as { id: number }).id));
  }

  private async templated(): Promise<string> {
    const { messages, chat_template_kwargs: kwargs } = this.chat;
    try {
      return text(await this.call('/apply-template', { messages, ...(kwargs ? { chat_template_kwargs: kwargs } : {}) }), 'prompt', '/apply-template');
    } catch (error) {
      // A llama-server from before /apply-template (late 2024) answers 404, which an Ollama client
      // would read as "model not found".
      if (!(error instanceof RouterError) || error.status !== 404) throw error;
      throw new RouterError(
        501,
        'not_supported',
        'this model\'s llama-server has no /apply-template (a build older than late 2024), so "context" cannot be computed: install a newer llama.cpp, or send the conversation with /api/chat',
      );
    }
  }
}
