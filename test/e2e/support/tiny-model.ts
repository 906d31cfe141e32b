import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { readGgufMetadata } from './gguf-reader.js';
import { GGUF_TYPE, type GgufValue } from './gguf-types.js';
import { writeGguf, type GgufTensor } from './gguf-writer.js';

/** The shape the e2e tests need: a real llama graph, small enough to load in ~100 ms on a CPU. */
export const TINY_MODEL = {
  layers: 2,
  embd: 64,
  heads: 4,
  ffn: 128,
  context: 2048,
  seed: 20240607,
} as const;

/** Bump when the generator changes, so a cached model from an older generator is not reused. */
const GENERATOR_VERSION = 1;

export function tinyModelPath(cacheDir: string): string {
  const m = TINY_MODEL;
  return join(cacheDir, 'models', `tiny-llama-l${m.layers}-e${m.embd}-h${m.heads}-f${m.ffn}-s${m.seed}-v${GENERATOR_VERSION}.gguf`);
}

/** mulberry32: a tiny deterministic PRNG, so the same seed gives byte-identical weights. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generates (once per cache dir) a random-weights llama model using the tokenizer of
 * llama.cpp's `ggml-vocab-llama-spm.gguf`. Returns its path.
 */
export async function ensureTinyModel(cacheDir: string, vocabPath: string): Promise<string> {
  const file = tinyModelPath(cacheDir);
  if (existsSync(file)) return file;

  const m = TINY_MODEL;
  const vocab = await readGgufMetadata(vocabPath);
  const tokens = vocab.get('tokenizer.ggml.tokens');
  if (!tokens || tokens.type !== GGUF_TYPE.ARRAY) throw new Error(`${vocabPath} has no tokenizer.ggml.tokens`);
  const nVocab = tokens.value.length;

  const u32 = (value: number): GgufValue => ({ type: GGUF_TYPE.UINT32, value });
  const meta = new Map<string, GgufValue>([
    ['general.architecture', { type: GGUF_TYPE.STRING, value: 'llama' }],
    ['general.name', { type: GGUF_TYPE.STRING, value: 'infer-entry e2e tiny random llama' }],
    ['general.alignment', u32(32)],
    ['general.file_type', u32(0)],
    ['llama.context_length', u32(m.context)],
    ['llama.embedding_length', u32(m.embd)],
    ['llama.block_count', u32(m.layers)],
    ['llama.feed_forward_length', u32(m.ffn)],
    ['llama.attention.head_count', u32(m.heads)],
    ['llama.attention.head_count_kv', u32(m.heads)],
    ['llama.rope.dimension_count', u32(m.embd / m.heads)],
    ['llama.attention.layer_norm_rms_epsilon', { type: GGUF_TYPE.FLOAT32, value: 1e-5 }],
    ['llama.vocab_size', u32(nVocab)],
  ]);
  for (const [key, value] of vocab) if (key.startsWith('tokenizer.')) meta.set(key, value);

  const rand = prng(m.seed);
  const random = (n: number, scale: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
    return a;
  };
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const tensors: GgufTensor[] = [
    // No output.weight: llama.cpp ties it to token_embd, which halves the file.
    { name: 'token_embd.weight', dims: [m.embd, nVocab], data: random(m.embd * nVocab, 0.5) },
    { name: 'output_norm.weight', dims: [m.embd], data: ones(m.embd) },
  ];
  const w = 1 / Math.sqrt(m.embd);
  for (let i = 0; i < m.layers; i++) {
    const b = `blk.${i}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [m.embd], data: ones(m.embd) },
      { name: `${b}.attn_q.weight`, dims: [m.embd, m.embd], data: random(m.embd * m.embd, w) },
      { name: `${b}.attn_k.weight`, dims: [m.embd, m.embd], data: random(m.embd * m.embd, w) },
      { name: `${b}.attn_v.weight`, dims: [m.embd, m.embd], data: random(m.embd * m.embd, w) },
      { name: `${b}.attn_output.weight`, dims: [m.embd, m.embd], data: random(m.embd * m.embd, w) },
      { name: `${b}.ffn_norm.weight`, dims: [m.embd], data: ones(m.embd) },
      { name: `${b}.ffn_gate.weight`, dims: [m.embd, m.ffn], data: random(m.embd * m.ffn, w) },
      { name: `${b}.ffn_up.weight`, dims: [m.embd, m.ffn], data: random(m.embd * m.ffn, w) },
      { name: `${b}.ffn_down.weight`, dims: [m.ffn, m.embd], data: random(m.ffn * m.embd, 1 / Math.sqrt(m.ffn)) },
    );
  }
  await mkdir(join(cacheDir, 'models'), { recursive: true });
  await writeGguf(file, meta, tensors);
  return file;
}
