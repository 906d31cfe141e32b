/**
 * POST /api/embed (input: a string or a list) and the older POST /api/embeddings (prompt: one
 * string) ⇄ llama-server's POST /v1/embeddings.
 */
import type { ModelInfo } from '../types.js';
import { badRequest, parseKeepAlive, translateOptions } from './ollama-options.js';

export interface EmbedTranslated {
  body: Record<string, unknown>;
  /** Nothing to embed: Ollama loads the model and answers with no vectors. */
  empty: boolean;
  keepAliveMs: number | undefined;
  warnings: string[];
}

export function translateEmbedRequest(request: Record<string, unknown>, model: ModelInfo, legacy: boolean): EmbedTranslated {
  const input = legacy ? request.prompt : request.input;
  const field = legacy ? 'prompt' : 'input';
  const texts = input === undefined || input === null ? [] : typeof input === 'string' ? [input] : input;
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
    throw badRequest(legacy ? '"prompt" must be a string' : '"input" must be a string or a list of strings');
  }
  if (legacy && Array.isArray(input)) throw badRequest(`"${field}" must be a string`);
  const options = translateOptions(request.options, model.contextSize);
  const body: Record<string, unknown> = { model: model.id, input: typeof input === 'string' ? input : texts };
  if (request.dimensions !== undefined) {
    if (typeof request.dimensions !== 'number' || !Number.isInteger(request.dimensions)) throw badRequest('"dimensions" must be an integer');
    body.dimensions = request.dimensions;
  }
  const empty = texts.length === 0 || (typeof input === 'string' && input === '');
  return { body, empty, keepAliveMs: parseKeepAlive(request.keep_alive), warnings: options.warnings };
}

interface EmbeddingsResponse {
  data?: Array<{ index?: number; embedding?: number[] }>;
  usage?: { prompt_tokens?: number };
}

export function translateEmbedResponse(upstream: EmbeddingsResponse, name: string, totalMs: number): Record<string, unknown> {
  const rows = [...(upstream.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  return {
    model: name,
    embeddings: rows.map((row) => row.embedding ?? []),
    total_duration: Math.round(totalMs * 1e6),
    load_duration: 0,
    prompt_eval_count: upstream.usage?.prompt_tokens ?? 0,
  };
}

export function translateLegacyEmbeddingsResponse(upstream: EmbeddingsResponse): Record<string, unknown> {
  return { embedding: upstream.data?.[0]?.embedding ?? [] };
}
