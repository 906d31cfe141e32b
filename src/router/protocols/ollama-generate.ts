/**
 * POST /api/generate. Ollama applies the model's chat template to `prompt` (and `system`), which is
 * what llama-server's /v1/chat/completions does, so a generate is a one-turn chat; `raw: true`
 * skips the template and is a plain /v1/completions; `suffix` is fill-in-the-middle, llama-server's
 * /infill. A received `context` is put before the templated prompt (see ollama-context.ts).
 */
import type { ModelInfo } from '../types.js';
import { doneReason, stats, translateMessages, type Translated } from './ollama-chat.js';
import { parseContext } from './ollama-context.js';
import { infillBody } from './ollama-infill.js';
import { badRequest, parseKeepAlive, translateFormat, translateOptions, translateThink } from './ollama-options.js';

export interface GenerateTranslated extends Translated {
  path: '/v1/chat/completions' | '/v1/completions' | '/infill';
  /** Token ids to detokenize before the templated prompt (a chat-template generate only). */
  context: number[] | undefined;
  /** Ollama returns `context` unless the prompt was raw; here not for `suffix` either. */
  returnsContext: boolean;
}

export function translateGenerateRequest(request: Record<string, unknown>, model: ModelInfo): GenerateTranslated {
  const prompt = request.prompt ?? '';
  if (typeof prompt !== 'string') throw badRequest('"prompt" must be a string');
  if (request.system !== undefined && typeof request.system !== 'string') throw badRequest('"system" must be a string');
  const suffix = request.suffix ?? '';
  if (typeof suffix !== 'string') throw badRequest('"suffix" must be a string');
  const options = translateOptions(request.options, model.contextSize);
  const warnings = [...options.warnings];
  if (request.template) warnings.push('"template" ignored: the instance uses its own chat template');
  const raw = request.raw === true;
  const context = raw ? undefined : parseContext(request.context);
  if (raw && Array.isArray(request.context) && request.context.length > 0) warnings.push('"context" ignored: "raw": true sends the prompt verbatim');
  const stream = request.stream !== false;
  const keepAliveMs = parseKeepAlive(request.keep_alive);
  if (suffix !== '' && !raw) {
    // As Ollama: the model's FIM tokens frame prompt and suffix; there is no system turn.
    if (Array.isArray(request.images) && request.images.length > 0) throw badRequest('"images" cannot be used with "suffix"');
    if (request.system) warnings.push('"system" ignored with "suffix": fill-in-the-middle has no system turn');
    if (request.format) warnings.push('"format" ignored with "suffix": /infill takes no response format');
    if (context) warnings.push('"context" ignored with "suffix"');
    return { path: '/infill', body: infillBody(prompt, suffix, options.fields, stream), stream, keepAliveMs, warnings, context: undefined, returnsContext: false };
  }
  if (suffix !== '') warnings.push('"suffix" ignored: "raw": true sends the prompt verbatim');
  const common: Record<string, unknown> = { model: model.id, ...options.fields };
  const responseFormat = translateFormat(request.format);
  if (responseFormat) common.response_format = responseFormat;
  if (stream) {
    common.stream = true;
    common.stream_options = { include_usage: true };
  }
  if (raw) {
    if (Array.isArray(request.images) && request.images.length > 0) throw badRequest('"images" cannot be used with "raw": true');
    return { path: '/v1/completions', body: { ...common, prompt }, stream, keepAliveMs, warnings, context: undefined, returnsContext: false };
  }
  if (context && context.length > 0 && Array.isArray(request.images) && request.images.length > 0) {
    throw badRequest('"context" cannot be used with "images": send the conversation with /api/chat instead');
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
    context,
    returnsContext: true,
  };
}

/** A non-streamed chat.completion or text_completion → Ollama's single generate response. */
export function translateGenerateResponse(upstream: Record<string, unknown>, name: string, createdAt: string, totalMs: number, loadMs = 0): Record<string, unknown> {
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
  return { ...out, done: true, done_reason: doneReason(choice.finish_reason), ...stats(upstream, totalMs, loadMs) };
}
