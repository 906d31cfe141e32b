/**
 * Ollama's request knobs (`options`, `format`, `keep_alive`, `think`) as fields of an OpenAI-style
 * body for llama-server. Sampling options map one to one; options that choose how a model is
 * loaded (context size, GPU layers, threads, ...) are fixed by the TOML config, so they are ignored
 * with a warning instead of failing requests from clients that always send them.
 */
import { RouterError } from '../types.js';

/** Ollama option → llama-server body field, for options whose meaning is the same. */
const SAMPLING: Record<string, string> = {
  temperature: 'temperature',
  top_p: 'top_p',
  top_k: 'top_k',
  min_p: 'min_p',
  typical_p: 'typical_p',
  seed: 'seed',
  repeat_penalty: 'repeat_penalty',
  repeat_last_n: 'repeat_last_n',
  presence_penalty: 'presence_penalty',
  frequency_penalty: 'frequency_penalty',
  mirostat: 'mirostat',
  mirostat_tau: 'mirostat_tau',
  mirostat_eta: 'mirostat_eta',
  num_keep: 'n_keep',
};

/** Options that pick how the model is loaded: llama-server takes them as flags, set in the TOML file. */
const LOAD_TIME = new Set([
  'num_gpu', 'main_gpu', 'num_thread', 'num_batch', 'use_mmap', 'use_mlock', 'numa', 'low_vram',
  'vocab_only', 'f16_kv', 'num_gqa', 'rope_frequency_base', 'rope_frequency_scale', 'logits_all',
  'embedding_only', 'penalize_newline', 'tfs_z',
]);

export interface OptionsResult {
  fields: Record<string, unknown>;
  warnings: string[];
}

/**
 * `contextSize` is the running (or configured) context of the instance, when known. A `num_ctx`
 * cannot resize it per request: equal or smaller is honoured as is (the request fits), larger is
 * ignored with a warning, and a prompt that does not fit gets llama-server's own context error.
 */
export function translateOptions(options: unknown, contextSize: number | null): OptionsResult {
  const fields: Record<string, unknown> = {};
  const warnings: string[] = [];
  if (options === undefined || options === null) return { fields, warnings };
  if (typeof options !== 'object' || Array.isArray(options)) throw badRequest('"options" must be an object');
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    if (value === null || value === undefined) continue;
    const target = SAMPLING[key];
    if (target) {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw badRequest(`option "${key}" must be a number`);
      fields[target] = value;
    } else if (key === 'num_predict') {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw badRequest('option "num_predict" must be an integer');
      // -1 = no limit, -2 = until the context is full: both are llama-server's default.
      if (value >= 0) fields.max_tokens = value;
    } else if (key === 'stop') {
      const stops = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(stops) || !stops.every((s) => typeof s === 'string')) {
        throw badRequest('option "stop" must be a string or a list of strings');
      }
      fields.stop = stops;
    } else if (key === 'num_ctx') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
        throw badRequest('option "num_ctx" must be a positive integer');
      }
      if (contextSize !== null && value > contextSize) {
        warnings.push(
          `num_ctx ${value} ignored: the instance runs with a context of ${contextSize} tokens (server.ctx_size in the TOML file)`,
        );
      }
    } else if (LOAD_TIME.has(key)) {
      warnings.push(`option "${key}" ignored: how a model is loaded is set in the TOML file, not per request`);
    } else {
      warnings.push(`unknown option "${key}" ignored`);
    }
  }
  return { fields, warnings };
}

/** `format: "json"` or a JSON schema → llama-server's `response_format`. */
export function translateFormat(format: unknown): Record<string, unknown> | undefined {
  if (format === undefined || format === null || format === '') return undefined;
  if (format === 'json') return { type: 'json_object' };
  if (typeof format === 'object' && !Array.isArray(format)) {
    return { type: 'json_schema', json_schema: { name: 'response', schema: format } };
  }
  throw badRequest('"format" must be "json" or a JSON schema object');
}

/** `think` → the chat template switch llama-server understands (and the effort, when named). */
export function translateThink(think: unknown): Record<string, unknown> {
  if (think === undefined || think === null) return {};
  if (typeof think === 'boolean') return { chat_template_kwargs: { enable_thinking: think } };
  if (think === 'high' || think === 'medium' || think === 'low') {
    return { chat_template_kwargs: { enable_thinking: true }, reasoning_effort: think };
  }
  throw badRequest('"think" must be true, false, "high", "medium" or "low"');
}

const GO_DURATION = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;
const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `keep_alive` → milliseconds for this request's TTL: a number is seconds, a string a Go duration
 * ("5m", "1h30m") or a number of seconds; 0 unloads after the request, negative keeps the model
 * loaded (Infinity). Undefined when absent: the instance's own `ttl` applies.
 */
export function parseKeepAlive(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return value < 0 ? Infinity : Math.round(value * 1000);
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^-?\d+(\.\d+)?$/.test(text)) return parseKeepAlive(Number(text));
    const negative = text.startsWith('-');
    let rest = negative ? text.slice(1) : text;
    let total = 0;
    while (rest.length > 0) {
      const match = GO_DURATION.exec(rest);
      if (!match) break;
      total += Number(match[1]) * GO_UNIT_MS[match[2]!]!;
      rest = rest.slice(match[0].length);
    }
    if (rest.length === 0 && text.length > (negative ? 1 : 0)) return negative ? Infinity : Math.round(total);
  }
  throw badRequest(`"keep_alive" must be a duration such as "5m" or a number of seconds, got ${JSON.stringify(value)}`);
}

export function badRequest(message: string): RouterError {
  return new RouterError(400, 'bad_request', message);
}
