/**
 * POST /api/chat ⇄ llama-server's POST /v1/chat/completions. Messages keep their roles; images
 * become image_url parts (data URLs); tool calls get ids (Ollama's have none, OpenAI's tool
 * results must name one) and their arguments become JSON text and back.
 */
import type { ModelInfo } from '../types.js';
import { badRequest, parseKeepAlive, translateFormat, translateOptions, translateThink } from './ollama-options.js';

export interface OllamaToolCall {
  id?: string;
  function: { index?: number; name: string; arguments: Record<string, unknown> | string };
}

export interface OllamaMessage {
  role: string;
  content?: string;
  thinking?: string;
  images?: string[];
  tool_calls?: OllamaToolCall[];
  tool_name?: string;
}

/** What a translated request needs besides its body. */
export interface Translated {
  body: Record<string, unknown>;
  stream: boolean;
  keepAliveMs: number | undefined;
  warnings: string[];
}

export function translateChatRequest(request: Record<string, unknown>, model: ModelInfo): Translated {
  const messages = request.messages ?? [];
  if (!Array.isArray(messages)) throw badRequest('"messages" must be a list');
  const options = translateOptions(request.options, model.contextSize);
  const body: Record<string, unknown> = {
    model: model.id,
    messages: translateMessages(messages as unknown[], model),
    ...options.fields,
    ...translateThink(request.think),
  };
  const responseFormat = translateFormat(request.format);
  if (responseFormat) body.response_format = responseFormat;
  if (request.tools !== undefined && request.tools !== null) {
    if (!Array.isArray(request.tools)) throw badRequest('"tools" must be a list');
    if (request.tools.length > 0) body.tools = request.tools;
  }
  const stream = request.stream !== false;
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return { body, stream, keepAliveMs: parseKeepAlive(request.keep_alive), warnings: options.warnings };
}

export function translateMessages(messages: unknown[], model: ModelInfo): Record<string, unknown>[] {
  const pending: Array<{ id: string; name: string }> = [];
  let callCount = 0;
  return messages.map((raw, index) => {
    if (!raw || typeof raw !== 'object') throw badRequest(`messages[${index}] must be an object`);
    const message = raw as OllamaMessage;
    if (typeof message.role !== 'string') throw badRequest(`messages[${index}].role must be a string`);
    if (message.content !== undefined && typeof message.content !== 'string') {
      throw badRequest(`messages[${index}].content must be a string`);
    }
    const out: Record<string, unknown> = { role: message.role, content: message.content ?? '' };
    if (message.images !== undefined && message.images !== null) {
      out.content = withImages(message.content ?? '', message.images, model, index);
    }
    if (message.thinking) out.reasoning_content = message.thinking;
    if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
      out.tool_calls = message.tool_calls.map((call) => {
        const name = call?.function?.name;
        if (typeof name !== 'string') throw badRequest(`messages[${index}].tool_calls needs function.name`);
        const id = call.id ?? `call_${callCount++}`;
        pending.push({ id, name });
        const args = call.function.arguments;
        return { id, type: 'function', function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) } };
      });
    }
    if (message.role === 'tool') {
      // The oldest unanswered call of that tool (else the oldest unanswered call) is the one answered.
      const at = pending.findIndex((call) => message.tool_name === undefined || call.name === message.tool_name);
      const answered = at >= 0 ? pending.splice(at, 1)[0] : undefined;
      if (answered) out.tool_call_id = answered.id;
      if (message.tool_name) out.name = message.tool_name;
    }
    return out;
  });
}

function withImages(text: string, images: unknown, model: ModelInfo, index: number): unknown[] {
  if (!Array.isArray(images) || !images.every((image) => typeof image === 'string')) {
    throw badRequest(`messages[${index}].images must be a list of base64 strings`);
  }
  if (images.length === 0) return [{ type: 'text', text }];
  if (!supportsImages(model)) {
    throw badRequest(`model "${model.id}" does not support images: its instance runs without a multimodal projector (server.mmproj)`);
  }
  return [
    ...images.map((image) => ({ type: 'image_url', image_url: { url: dataUrl(image) } })),
    { type: 'text', text },
  ];
}

/** Known only once the instance ran (/props); unknown is let through and llama-server decides. */
function supportsImages(model: ModelInfo): boolean {
  const props = model.props as { modalities?: { vision?: unknown } } | null;
  return props?.modalities?.vision !== false;
}

/** Ollama sends bare base64; the media type only labels it (llama-server sniffs the bytes). */
export function dataUrl(base64: string): string {
  if (base64.startsWith('data:')) return base64;
  const type = base64.startsWith('iVBORw0KGgo')
    ? 'image/png'
    : base64.startsWith('R0lGOD')
      ? 'image/gif'
      : base64.startsWith('UklGR')
        ? 'image/webp'
        : 'image/jpeg';
  return `data:${type};base64,${base64}`;
}

/** An OpenAI tool call (arguments as JSON text) as Ollama shows it (arguments as an object). */
export function toOllamaToolCall(call: { id?: string; function?: { name?: string; arguments?: string } }, index: number): OllamaToolCall {
  const text = call.function?.arguments ?? '';
  let args: Record<string, unknown> | string = {};
  if (text.trim() !== '') {
    try {
      args = JSON.parse(text) as Record<string, unknown>;
    } catch {
      args = text; // not JSON: handed over as the model wrote it
    }
  }
  return { ...(call.id ? { id: call.id } : {}), function: { index, name: call.function?.name ?? '', arguments: args } };
}

export function doneReason(finishReason: unknown): string {
  if (finishReason === 'length') return 'length';
  return 'stop'; // stop, tool_calls, and llama-server's eos all read as "stop" to Ollama clients
}

/**
 * llama-server's usage and timings → Ollama's counters (durations in ns). `loadMs` is how long the
 * request waited for its model to start (0 when it was loaded: Ollama's load_duration is then only
 * its scheduler's few microseconds).
 */
export function stats(upstream: Record<string, unknown>, totalMs: number, loadMs = 0): Record<string, number> {
  const usage = (upstream.usage ?? {}) as { prompt_tokens?: number; completion_tokens?: number };
  const timings = (upstream.timings ?? {}) as { prompt_n?: number; prompt_ms?: number; predicted_n?: number; predicted_ms?: number };
  const ns = (ms: number | undefined) => Math.round((ms ?? 0) * 1e6);
  return {
    total_duration: ns(totalMs),
    load_duration: ns(loadMs),
    prompt_eval_count: usage.prompt_tokens ?? timings.prompt_n ?? 0,
    prompt_eval_duration: ns(timings.prompt_ms),
    eval_count: usage.completion_tokens ?? timings.predicted_n ?? 0,
    eval_duration: ns(timings.predicted_ms),
  };
}

/** A non-streamed chat.completion → Ollama's single chat response. */
export function translateChatResponse(upstream: Record<string, unknown>, name: string, createdAt: string, totalMs: number, loadMs = 0): Record<string, unknown> {
  const choice = ((upstream.choices as unknown[] | undefined)?.[0] ?? {}) as {
    message?: { content?: string | null; reasoning_content?: string; tool_calls?: Array<{ id?: string; function?: { name?: string; arguments?: string } }> };
    finish_reason?: string;
  };
  const message: Record<string, unknown> = { role: 'assistant', content: choice.message?.content ?? '' };
  if (choice.message?.reasoning_content) message.thinking = choice.message.reasoning_content;
  const calls = choice.message?.tool_calls ?? [];
  if (calls.length > 0) message.tool_calls = calls.map(toOllamaToolCall);
  return { model: name, created_at: createdAt, message, done: true, done_reason: doneReason(choice.finish_reason), ...stats(upstream, totalMs, loadMs) };
}
