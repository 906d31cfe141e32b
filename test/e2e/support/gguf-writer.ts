import { open, rename } from 'node:fs/promises';

import { GGML_TYPE, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE, GGUF_VERSION, type GgufType, type GgufValue } from './gguf-types.js';

export interface GgufTensor {
  name: string;
  /** ggml order: the first dimension is the contiguous one (e.g. token_embd is [n_embd, n_vocab]). */
  dims: number[];
  data: Float32Array;
}

/** Little-endian byte builder for the header part (small; tensor data is written separately). */
class Bytes {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: GgufType, v: number | boolean | bigint | string): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case GGUF_TYPE.UINT8: b.writeUInt8(Number(v)); return this.push(b.subarray(0, 1));
      case GGUF_TYPE.INT8: b.writeInt8(Number(v)); return this.push(b.subarray(0, 1));
      case GGUF_TYPE.BOOL: b.writeUInt8(v ? 1 : 0); return this.push(b.subarray(0, 1));
      case GGUF_TYPE.UINT16: b.writeUInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case GGUF_TYPE.INT16: b.writeInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case GGUF_TYPE.UINT32: b.writeUInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case GGUF_TYPE.INT32: b.writeInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case GGUF_TYPE.FLOAT32: b.writeFloatLE(Number(v)); return this.push(b.subarray(0, 4));
      case GGUF_TYPE.UINT64: b.writeBigUInt64LE(BigInt(v)); return this.push(b);
      case GGUF_TYPE.INT64: b.writeBigInt64LE(BigInt(v)); return this.push(b);
      case GGUF_TYPE.FLOAT64: b.writeDoubleLE(Number(v)); return this.push(b);
      case GGUF_TYPE.STRING: return this.str(String(v));
      default: throw new Error(`GGUF value type ${type} cannot be a scalar`);
    }
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const pad = (n: number, align: number): number => (align - (n % align)) % align;

/**
 * Writes a GGUF v3 file: header, key/values, tensor infos, then the F32 tensor data,
 * each tensor aligned. Written to a temp name and renamed, so a reader never sees half a model.
 */
export async function writeGguf(file: string, metadata: Map<string, GgufValue>, tensors: GgufTensor[]): Promise<void> {
  const alignment = GGUF_DEFAULT_ALIGNMENT;
  const head = new Bytes();
  head.push(Buffer.from(GGUF_MAGIC, 'latin1'));
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.size);
  for (const [key, v] of metadata) {
    head.str(key);
    head.u32(v.type);
    if (v.type === GGUF_TYPE.ARRAY) {
      head.u32(v.itemType);
      head.u64(v.value.length);
      for (const item of v.value) head.scalar(v.itemType, item);
    } else {
      head.scalar(v.type, v.value);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims.join('x')} do not match ${t.data.length} values`);
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GGML_TYPE.F32);
    head.u64(offset);
    offset += t.data.byteLength + pad(t.data.byteLength, alignment);
  }
  head.push(Buffer.alloc(pad(head.length, alignment)));

  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(head.concat());
    for (const t of tensors) {
      await fh.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      const p = pad(t.data.byteLength, alignment);
      if (p > 0) await fh.write(Buffer.alloc(p));
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}
