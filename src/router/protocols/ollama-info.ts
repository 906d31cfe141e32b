/**
 * GET /api/tags, GET /api/ps, POST /api/show, GET /api/version: what Ollama clients ask before
 * they chat. Built from what the router knows (config ids, state, TTL) and, once an instance ran,
 * its cached /props; listing never starts or probes anything.
 */
import { createHash } from 'node:crypto';

import type { ModelInfo } from '../types.js';
import { ollamaName } from './ollama-names.js';

/** The Ollama API version whose endpoints and fields this layer follows (clients gate features on it). */
export const OLLAMA_API_VERSION = '0.9.0';

/** Ollama shows "never unloads" as an expiry far in the future. */
const FOREVER = '2318-01-01T00:00:00Z';

interface Props {
  model_path?: string;
  chat_template?: string;
  modalities?: { vision?: boolean; audio?: boolean };
  default_generation_settings?: { n_ctx?: number };
}

const FAMILIES = ['llama', 'qwen3', 'qwen2', 'qwen', 'gemma3', 'gemma2', 'gemma', 'phi3', 'phi', 'mistral', 'mixtral', 'deepseek2', 'granite', 'olmo', 'smollm', 'command-r', 'starcoder2', 'nomic-bert', 'bert'];

function props(model: ModelInfo): Props {
  return (model.props && typeof model.props === 'object' ? model.props : {}) as Props;
}

function file(model: ModelInfo): string {
  return (props(model).model_path ?? '').split('/').pop() ?? '';
}

/** Only what the model file's name or /props says; empty when unknown, never guessed from sizes. */
export function details(model: ModelInfo): Record<string, unknown> {
  const name = file(model).toLowerCase();
  const family = FAMILIES.find((f) => name.includes(f)) ?? '';
  const quantization = /(?:^|[-_.])((?:I?Q\d(?:_[0-9A-Z]+)*)|BF16|F16|F32)(?=[-_.]|$)/i.exec(file(model))?.[1]?.toUpperCase() ?? '';
  const size = /(?:^|[-_.])(\d+(?:\.\d+)?[BM])(?=[-_.]|$)/i.exec(file(model))?.[1]?.toUpperCase() ?? '';
  return { parent_model: '', format: 'gguf', family, families: family ? [family] : null, parameter_size: size, quantization_level: quantization };
}

export function digest(model: ModelInfo): string {
  return createHash('sha256').update(`infer-entry:${model.instance}`).digest('hex');
}

export function contextLength(model: ModelInfo): number | null {
  return props(model).default_generation_settings?.n_ctx ?? model.contextSize;
}

/** Model file bytes by ModelInfo.modelPath; 0 without a local file. */
export type SizeOf = (path: string | null) => number;

/** One entry per configured id: every name a client may pick routes. `size` is the model file's. */
export function tags(models: ModelInfo[], modifiedAt: string, sizeOf: SizeOf): Record<string, unknown> {
  return {
    models: models.flatMap((model) => {
      const size = sizeOf(model.modelPath);
      return model.ids.map((id) => ({ name: ollamaName(id), model: ollamaName(id), modified_at: modifiedAt, size, digest: digest(model), details: details(model) }));
    }),
  };
}

/**
 * Ollama's `size` in /api/ps is the memory the model takes and `size_vram` the part of it on the
 * GPU (clients print size_vram/size as "% GPU"). The file size stands for the weights; VRAM comes
 * from ModelInfo.vramMb (measured, else configured). Unknown VRAM is 0, which is what Ollama
 * reports for a model running on the CPU only.
 */
function memory(model: ModelInfo, sizeOf: SizeOf): { size: number; size_vram: number } {
  const vram = model.vramMb === null ? 0 : Math.round(model.vramMb * 1024 * 1024);
  return { size: Math.max(sizeOf(model.modelPath), vram), size_vram: vram };
}

const RUNNING = new Set(['starting', 'ready', 'unhealthy']);

export function ps(models: ModelInfo[], now: number, sizeOf: SizeOf): Record<string, unknown> {
  return {
    models: models
      .filter((model) => RUNNING.has(model.state))
      .map((model) => {
        const { size, size_vram } = memory(model, sizeOf);
        return {
          name: ollamaName(model.id),
          model: ollamaName(model.id),
          size,
          digest: digest(model),
          details: details(model),
          expires_at: expiry(model, now),
          size_vram,
          context_length: contextLength(model) ?? 0,
        };
      }),
  };
}

/** While requests run the TTL is not counting: the earliest it can end is a full TTL from now. */
function expiry(model: ModelInfo, now: number): string {
  if (model.ttlMs === 0) return FOREVER;
  return new Date(model.expiresAt ?? now + model.ttlMs).toISOString();
}

export function capabilities(model: ModelInfo): string[] {
  const p = props(model);
  const out = ['completion'];
  if (p.chat_template && /tool/i.test(p.chat_template)) out.push('tools');
  if (p.modalities?.vision) out.push('vision');
  if (p.chat_template && /<think>|enable_thinking|reasoning/i.test(p.chat_template)) out.push('thinking');
  return out;
}

export function show(model: ModelInfo, modifiedAt: string): Record<string, unknown> {
  const d = details(model);
  const family = (d.family as string) || 'unknown';
  const modelInfo: Record<string, unknown> = { 'general.architecture': family };
  const context = contextLength(model);
  if (context !== null) modelInfo[`${family}.context_length`] = context;
  return {
    license: '',
    modelfile: `# ${model.id} is configured in infer-entry's TOML file ([instance.${model.instance}]), not by a Modelfile.\n`,
    parameters: '',
    template: props(model).chat_template ?? '',
    details: d,
    model_info: modelInfo,
    capabilities: capabilities(model),
    modified_at: modifiedAt,
  };
}

export function version(): Record<string, unknown> {
  return { version: OLLAMA_API_VERSION };
}
