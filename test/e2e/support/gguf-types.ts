/** GGUF value types (gguf.h `enum gguf_type`). */
export const GGUF_TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufType = (typeof GGUF_TYPE)[keyof typeof GGUF_TYPE];

/** A typed value: GGUF needs the exact width of each number, which JS numbers do not carry. */
export type GgufValue =
  | { type: Exclude<GgufType, 8 | 9 | 10 | 11>; value: number | boolean }
  | { type: 10 | 11; value: bigint }
  | { type: 8; value: string }
  | { type: 9; itemType: GgufType; value: Array<number | boolean | bigint | string> };

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** ggml tensor types this test code writes. */
export const GGML_TYPE = { F32: 0 } as const;
