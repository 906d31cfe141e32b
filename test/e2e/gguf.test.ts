// The GGUF writer the tiny model is made with: what it writes reads back, laid out as llama.cpp expects.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { readGgufMetadata } from './support/gguf-reader.js';
import { GGUF_TYPE, type GgufValue } from './support/gguf-types.js';
import { writeGguf } from './support/gguf-writer.js';
import { TINY_MODEL } from './support/tiny-model.js';

describe('GGUF writer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'infer-entry-e2e-gguf-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes key/values that read back with their types, and aligns tensor data to 32 bytes', async () => {
    const meta = new Map<string, GgufValue>([
      ['general.architecture', { type: GGUF_TYPE.STRING, value: 'llama' }],
      ['a.u32', { type: GGUF_TYPE.UINT32, value: 7 }],
      ['a.f32', { type: GGUF_TYPE.FLOAT32, value: 0.5 }],
      ['a.bool', { type: GGUF_TYPE.BOOL, value: true }],
      ['a.strings', { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.STRING, value: ['<s>', 'ü'] }],
      ['a.ints', { type: GGUF_TYPE.ARRAY, itemType: GGUF_TYPE.INT32, value: [-1, 2] }],
    ]);
    const file = join(dir, 'x.gguf');
    await writeGguf(file, meta, [{ name: 't', dims: [3], data: new Float32Array([1, 2, 3]) }]);
    expect(await readGgufMetadata(file)).toEqual(meta);
    const bytes = await readFile(file);
    expect(bytes.length % 32).toBe(0);
    // The tensor data is the last aligned block: 3 floats then zero padding.
    const data = bytes.subarray(bytes.length - 32);
    expect([data.readFloatLE(0), data.readFloatLE(4), data.readFloatLE(8)]).toEqual([1, 2, 3]);
  });

  it('refuses a tensor whose dims do not match its data', async () => {
    await expect(writeGguf(join(dir, 'bad.gguf'), new Map(), [{ name: 't', dims: [4], data: new Float32Array(3) }])).rejects.toThrow(/dims 4/);
  });

  it('made the cached tiny model with the llama hyperparameters and the SPM vocabulary', async () => {
    const meta = await readGgufMetadata(inject('e2e').model);
    expect(meta.get('llama.block_count')?.value).toBe(TINY_MODEL.layers);
    expect(meta.get('llama.embedding_length')?.value).toBe(TINY_MODEL.embd);
    expect(meta.get('tokenizer.ggml.model')?.value).toBe('llama');
    expect((meta.get('tokenizer.ggml.tokens')?.value as string[]).length).toBe(32000);
  });
});
