/**
 * POST /api/generate. Ollama applies the model's chat template to `prompt` (and `system`), which is
 * what llama-server's /v1/chat/completions does, so a generate is a one-turn chat; `raw: true`
 * skips the template and is a plain /v1/completions. Ollama's `context` (token ids of the last
 * exchange) has no counterpart: it is ignored on input and not returned.
 */
import type { ModelInfo } from '../types.js';
import { doneReason, stats, translateMessages, type Translated } from './ollama-chat.js';
import { badRequest, parseKeepAlive, translateFormat, translateOptions, translateThink } from './ollama-options.js';

export interface GenerateTranslated extends Translated {
  path: '/v1/chat/completions' | '/v1/completions';
}

export function translateGenerateRequest(request: Record<string, unknown>, model: ModelInfo): GenerateTranslated {
  const prompt = request.prompt ?? '';
  if (typeof prompt !== 'string') throw badRequest('"prompt" must be a string');
  if (request.system !== undefined && typeof request.system !== 'string') throw badRequest('"system" must be a string');
  if (request.suffix) throw badRequest('"suffix" (fill-in-the-middle) is not supported: use llama-server\'s /infill through /upstream/{model}/infill');
  const options = translateOptions(request.options, model.contextSize);
  const warnings = [...options.warnings];
  if (request.template) warnings.push('"template" ignored: the instance uses its own chat template');
  if (request.context) warnings.push('"context" ignored: send the conversation with /api/chat instead');
  const stream = request.stream !== false;
  const common: Record<string, unknown> = { model: model.id, ...options.fields };
  const responseFormat = translateFormat(request.format);
  if (responseFormat) common.response_format = responseFormat;
  if (stream) {
    common.stream = true;
    common.stream_options = { include_usage: true };
  }
  const keepAliveMs = parseKeepAlive(request.keep_alive);
  if (request.raw === true) {
    if (Array.isArray(request.images) && request.images.length > 0) throw badRequest('"images" cannot be used with "raw": true');
    return { path: '/v1/completions', body: { ...common, prompt }, stream, keepAliveMs, warnings };
  }
  const messages: unknown[] = [];
  if (request.system) messages.push({ role: 'system', content: request.system });
  messages.push({ role: 'user', content: prompt, ...(request.images ? { images: request.images } : {}) });
  return {
    path: '/v1/chat/completions',
    body: { ...common, messages: translateMessages(messages, model), ...translateThink(request.think) },
    stream,
    keepAliveMs,
    warnings,
  };
}

/** A non-streamed chat.completion or text_completion → Ollama's single generate response. */
export function translateGenerateResponse(upstream: Record<string, unknown>, name: string, createdAt: string, totalMs: number): Record<string, unknown> {
  const choice = ((upstream.choices as unknown[] | undefined)?.[0] ?? {}) as {
    text?: string;
    message?: { content?: string | null; reasoning_content?: string };
    finish_reason?: string;
  };
  const out: Record<string, unknown> = {
    model: name,
    created_at: createdAt,
    response: choice.text ?? choice.message?.content ?? '',
  };
  if (choice.message?.reasoning_content) out.thinking = choice.message.reasoning_content;
  return { ...out, done: true, done_reason: doneReason(choice.finish_reason), ...stats(upstream, totalMs) };
}
