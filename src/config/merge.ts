/**
 * The two merges of the config: AUTO_INFER_LLAMA_CPP_OVERRIDES over the parsed
 * file, and the shared `[instance.control]` / `[instance.server]` tables under
 * each instance's own.
 */

import type { ControlInput, ServerInput } from './schema.js';

export type Plain = Record<string, unknown>;

export const isPlainObject = (value: unknown): value is Plain =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/**
 * Deep merge for the overrides variable: tables merge key by key, everything
 * else (lists included) is replaced, and `null` deletes the key (JSON has no
 * other way to say "remove"). Returns the merged value and the override paths.
 */
export function deepMergeOverrides(base: Plain, overrides: Plain, prefix: string[] = [], touched: string[][] = []): { merged: Plain; touched: string[][] } {
  const merged: Plain = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const path = [...prefix, key];
    if (value === null) {
      delete merged[key];
      touched.push(path);
    } else if (isPlainObject(value) && isPlainObject(merged[key])) {
      merged[key] = deepMergeOverrides(merged[key] as Plain, value, path, touched).merged;
    } else {
      merged[key] = value;
      touched.push(path);
    }
  }
  return { merged, touched };
}

/** The old launcher's rule: an instance's value replaces the shared one, except that two lists are concatenated. */
export function mergeServer(shared: ServerInput, own: ServerInput): ServerInput {
  const merged: ServerInput = { ...shared };
  for (const [key, value] of Object.entries(own)) {
    const before = merged[key];
    merged[key] = Array.isArray(before) && Array.isArray(value) ? [...before, ...value] : value;
  }
  return merged;
}

/** Control tables: per key, the instance wins. */
export function mergeControl(shared: ControlInput, own: ControlInput): ControlInput {
  return { ...shared, ...own };
}
