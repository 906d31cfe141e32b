/**
 * Property tests of config parsing: whatever the TOML text or the overrides
 * JSON, parseConfig answers with a config or with problems that each have a
 * file and a message — it never throws (which `validate` would turn into exit
 * 70), and every problem placed in the file points at a line that exists.
 * Seeds are fixed; test/fixtures/fuzz.ts says how to run longer.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/cli/validate.js';
import { parseConfig } from '../../src/config/parse.js';
import { resolvePaths } from '../../src/paths.js';
import { fuzzParams, fuzzTimeout } from '../fixtures/fuzz.js';
import { REPO } from '../unit/control/harness.js';

const paths = resolvePaths({ INFER_ENTRY_ROOT: '/opt/fuzz-root' });
const examples = ['single-instance.toml', 'multi-gpu.toml', 'existing-launcher.toml', 'hugging-face.toml'].map((f) => readFileSync(path.join(REPO, 'docs/examples', f), 'utf8'));

function expectAnswer(text: string, env: NodeJS.ProcessEnv = {}): void {
  const result = parseConfig(text, 'fuzz.toml', { env, paths, exists: () => true });
  const lines = text.split('\n').length;
  if (result.config) {
    expect(result.problems).toEqual([]);
    return;
  }
  expect(result.problems.length).toBeGreaterThan(0);
  for (const p of result.problems) {
    expect(typeof p.message).toBe('string');
    expect(p.message.length).toBeGreaterThan(0);
    if (p.line !== undefined) {
      expect(p.file).toBe('fuzz.toml');
      expect(p.line).toBeGreaterThanOrEqual(1);
      expect(p.line).toBeLessThanOrEqual(lines);
    }
  }
}

/** A valid example with a few bytes flipped, deleted or inserted. */
const mutated = fc
  .tuple(
    fc.constantFrom(...examples),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom('flip', 'delete', 'insert', 'dup'), fc.string({ unit: 'binary', minLength: 1, maxLength: 4 })), { minLength: 1, maxLength: 8 }),
  )
  .map(([text, edits]) => {
    let s = text;
    for (const [at, op, chunk] of edits) {
      const i = at % (s.length + 1);
      if (op === 'flip') s = s.slice(0, i) + String.fromCharCode((s.charCodeAt(i) || 0) ^ 0x20) + s.slice(i + 1);
      else if (op === 'delete') s = s.slice(0, i) + s.slice(i + chunk.length);
      else if (op === 'insert') s = s.slice(0, i) + chunk + s.slice(i);
      else s = s.slice(0, i) + s.slice(i, i + 40).repeat(3) + s.slice(i);
    }
    return s;
  });

/** Structure: nesting of lists and inline tables, keys that are odd, numbers that are huge. */
const tomlValue: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('1e400', '-0', 'inf', 'nan', '9999999999999999999999', '0x7fffffffffffffff', '"600h"', '"1e9h"', '"-1s"', '""', 'true', '1979-05-27T07:32:00Z'),
    fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => JSON.stringify(s)),
    fc.array(tie('v'), { maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
    fc.array(fc.tuple(fc.constantFrom('a', 'port', '__proto__', 'constructor', '"x y"', 'model'), tie('v')), { maxLength: 3 }).map((kv) => `{ ${kv.map(([k, v]) => `${k} = ${v}`).join(', ')} }`),
  ),
})).v;

const generated = fc
  .array(
    fc.tuple(
      fc.constantFrom('[instance.a.server]', '[instance.a.control]', '[instance.server]', '[instance.control]', '[master]', '[instance.b.server]', '[[instance.c]]'),
      fc.array(fc.tuple(fc.constantFrom('port', 'ctx_size', 'model', 'health_interval', 'stop_grace_period', 'restart', 'extra_args', 'gpu_ids', 'enabled', 'n_gpu_layers', '"__proto__"'), tomlValue), { maxLength: 4 }),
    ),
    { maxLength: 4 },
  )
  .map((tables) => tables.map(([header, kvs]) => `${header}\n${kvs.map(([k, v]) => `${k} = ${v}`).join('\n')}\n`).join('\n'));

const deep = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{a=', 'header')).map(([n, kind]) => {
  if (kind === 'header') return `[${Array.from({ length: n }, (_, k) => `k${k}`).join('.')}]\nx = 1\n`;
  const close = kind === '[' ? ']' : '}';
  return `[instance.a.server]\nport = 8081\nx = ${kind.repeat(n)}${kind === '[' ? '' : '1'}${close.repeat(n)}\n`;
});

describe('parseConfig answers every TOML input with a config or located problems, never a throw', () => {
  it('valid examples with bytes flipped, deleted, inserted or repeated', () => {
    fc.assert(fc.property(mutated, (text) => expectAnswer(text)), fuzzParams(300));
  }, fuzzTimeout(300, 20));

  it('generated tables: nested lists and inline tables, odd keys, huge numbers, odd Unicode', () => {
    fc.assert(fc.property(generated, (text) => expectAnswer(text)), fuzzParams(300));
  }, fuzzTimeout(300, 20));

  it('nesting from 1 to 3000 levels (lists, inline tables, dotted headers)', () => {
    fc.assert(fc.property(deep, (text) => expectAnswer(text)), fuzzParams(60));
  }, fuzzTimeout(60, 100));

  it('arbitrary strings, including NUL, lone surrogates and BOMs', () => {
    fc.assert(fc.property(fc.string({ unit: fc.oneof(fc.constant('\uFEFF'), fc.constant('\0'), fc.constant('\uD800'), fc.constantFrom('[', ']', '{', '}', '=', '"', "'", '\n', '.', ',', '#'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 200 }), (text) => expectAnswer(text)), fuzzParams(300));
  }, fuzzTimeout(300, 20));
});

describe('AUTO_INFER_LLAMA_CPP_OVERRIDES: any JSON is merged or refused naming the variable', () => {
  const base = examples[0]!;
  const json = fc.letrec<{ v: unknown }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 2 }),
      fc.dictionary(fc.constantFrom('instance', 'a', 'server', 'control', 'port', '__proto__', 'constructor', 'model', 'master'), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  it('random JSON values and structures', () => {
    fc.assert(
      fc.property(json, (value) => {
        const env = { AUTO_INFER_LLAMA_CPP_OVERRIDES: JSON.stringify(value) ?? 'null' };
        expectAnswer(base, env);
        const r = parseConfig(base, 'fuzz.toml', { env, paths, exists: () => true });
        for (const p of r.problems) if (p.line === undefined) expect(p.file).toBe('AUTO_INFER_LLAMA_CPP_OVERRIDES');
      }),
      fuzzParams(300),
    );
  }, fuzzTimeout(300, 20));

  it('nesting from 1 to 100 000 levels, refused past 32 naming the variable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), (n) => {
        const env = { AUTO_INFER_LLAMA_CPP_OVERRIDES: `${'{"a":'.repeat(n)}1${'}'.repeat(n)}` };
        const r = parseConfig(base, 'fuzz.toml', { env, paths, exists: () => true });
        const deepOne = r.problems.find((p) => p.message.includes('nested more than 32'));
        expect(Boolean(deepOne)).toBe(n > 32);
        if (deepOne) expect(deepOne.file).toBe('AUTO_INFER_LLAMA_CPP_OVERRIDES');
      }),
      fuzzParams(40),
    );
  }, fuzzTimeout(40, 200));
});

describe('--print-commands quoting', () => {
  it('bash reads back every argument exactly, and nothing printed holds a control character', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), fc.integer({ min: 1, max: 0x9f }).map((c) => String.fromCharCode(c)), fc.constantFrom('\u202e', '\u2028', "'", '\\', '$', '`', '!', '"')) , maxLength: 12 }), { minLength: 1, maxLength: 20 }), (args) => {
        const quoted = args.map(shellQuote);
        for (const q of quoted) expect(q).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
        const out = execFileSync('bash', ['-c', `for a in ${quoted.join(' ')}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
        expect(out.split('\0').slice(0, -1)).toEqual(args);
      }),
      fuzzParams(50),
    );
  }, fuzzTimeout(50, 50));
});
