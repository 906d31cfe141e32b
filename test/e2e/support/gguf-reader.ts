import { readFile } from 'node:fs/promises';

import { GGUF_MAGIC, GGUF_TYPE, type GgufType, type GgufValue } from './gguf-types.js';

/** Reads the key/value section of a GGUF file (enough to borrow a tokenizer from a vocab-only file). */
export async function readGgufMetadata(file: string): Promise<Map<string, GgufValue>> {
  const buf = await readFile(file);
  let pos = 0;
  const u32 = (): number => {
    const v = buf.readUInt32LE(pos);
    pos += 4;
    return v;
  };
  const u64 = (): bigint => {
    const v = buf.readBigUInt64LE(pos);
    pos += 8;
    return v;
  };
  const str = (): string => {
    const len = Number(u64());
    const s = buf.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const scalar = (type: GgufType): number | boolean | bigint | string => {
    switch (type) {
      case GGUF_TYPE.UINT8: return buf.readUInt8(pos++);
      case GGUF_TYPE.INT8: return buf.readInt8(pos++);
      case GGUF_TYPE.BOOL: return buf.readUInt8(pos++) !== 0;
      case GGUF_TYPE.UINT16: pos += 2; return buf.readUInt16LE(pos - 2);
      case GGUF_TYPE.INT16: pos += 2; return buf.readInt16LE(pos - 2);
      case GGUF_TYPE.UINT32: return u32();
      case GGUF_TYPE.INT32: pos += 4; return buf.readInt32LE(pos - 4);
      case GGUF_TYPE.FLOAT32: pos += 4; return buf.readFloatLE(pos - 4);
      case GGUF_TYPE.UINT64: return u64();
      case GGUF_TYPE.INT64: pos += 8; return buf.readBigInt64LE(pos - 8);
      case GGUF_TYPE.FLOAT64: pos += 8; return buf.readDoubleLE(pos - 8);
      case GGUF_TYPE.STRING: return str();
      default: throw new Error(`${file}: unsupported GGUF value type ${type} at byte ${pos}`);
    }
  };

  if (buf.toString('latin1', 0, 4) !== GGUF_MAGIC) throw new Error(`${file} is not a GGUF file`);
  pos = 4;
  const version = u32();
  if (version < 2) throw new Error(`${file}: GGUF version ${version} is not supported`);
  u64(); // tensor count: the vocab file's tensors are not needed
  const kvCount = Number(u64());
  const out = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    const type = u32() as GgufType;
    if (type === GGUF_TYPE.ARRAY) {
      const itemType = u32() as GgufType;
      const n = Number(u64());
      const value: Array<number | boolean | bigint | string> = new Array(n);
      for (let j = 0; j < n; j++) value[j] = scalar(itemType);
      out.set(key, { type, itemType, value });
    } else {
      out.set(key, { type, value: scalar(type) } as GgufValue);
    }
  }
  return out;
}
