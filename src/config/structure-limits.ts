/**
 * One walk over a parsed config value (the TOML file or the overrides JSON)
 * enforcing the rules that hold for any key or value, whatever the schema says:
 * bounded nesting (so no later step can recurse into a stack overflow), no
 * `__proto__`/`constructor`/`prototype` keys (merging them would reach object
 * prototypes; the same rule for the file and the variable), no NUL in a string
 * (no command line or environment can carry it). Iterative and linear.
 */
import type { KeyPath } from './toml-locator.js';

/** Tables and lists nested deeper than this, counted from the document root, are refused. A real config needs 5. */
export const MAX_DEPTH = 32;

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface StructureProblem {
  /** 'nul' is a leaf's problem; 'depth' and 'unsafe-key' make the value unsafe to merge or walk further. */
  rule: 'depth' | 'unsafe-key' | 'nul';
  path: KeyPath;
  message: string;
}

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => typeof v === 'object' && v !== null && !(v instanceof Date);

/** Every problem, in document order per container; at most one too-deep problem per branch. */
export function checkStructure(root: unknown, maxDepth = MAX_DEPTH): StructureProblem[] {
  const problems: StructureProblem[] = [];
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\0')) problems.push({ rule: 'nul', path, message: 'contains a NUL character, which no command line or environment can carry (expected text without \\u0000)' });
      continue;
    }
    if (!isContainer(value)) continue;
    if (path.length >= maxDepth) {
      problems.push({ rule: 'depth', path, message: `nested more than ${maxDepth} levels deep (expected a config: tables of flags, lists of values)` });
      continue;
    }
    const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, k) => [k, v]) : Object.entries(value);
    for (let k = entries.length - 1; k >= 0; k--) {
      const [key, inner] = entries[k]!;
      if (typeof key === 'string' && UNSAFE_KEYS.has(key)) {
        problems.push({ rule: 'unsafe-key', path: [...path, key], message: `key "${key}" is not allowed (expected config keys only)` });
        continue;
      }
      stack.push({ value: inner, path: [...path, key] });
    }
  }
  return problems;
}
