import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, configSchema } from '../../../src/config/schema.js';
import { parse } from './helpers.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const schemaFile = path.join(repo, 'schemas/llama-cpp-config-toml.schema.json');
const examplesDir = path.join(repo, 'docs/examples');
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.toml')).sort();

const ajv = new Ajv({ allErrors: true, strict: false });
const validateJson = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')));

describe('the committed JSON Schema', () => {
  it('equals the one generated from the zod schema', () => {
    const committed = JSON.parse(readFileSync(schemaFile, 'utf8'));
    expect(
      committed,
      'schemas/llama-cpp-config-toml.schema.json is stale: regenerate it with `npm run build && node dist/src/main.js schema > schemas/llama-cpp-config-toml.schema.json`',
    ).toEqual(configJsonSchema());
  });

  it('refuses what the zod schema refuses (unknown master key, port out of range, bad duration)', () => {
    for (const doc of [
      { master: { enabel: true } },
      { instance: { a: { server: { port: 70000 } } } },
      { instance: { control: { health_interval: '5 minutes' } } },
      { instance: { a: { sever: {} } } },
    ]) {
      expect(validateJson(doc), JSON.stringify(doc)).toBe(false);
      expect(configSchema.safeParse(doc).success, JSON.stringify(doc)).toBe(false);
    }
  });
});

describe('every example config in docs/examples', () => {
  it('exists', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  for (const name of examples) {
    it(`${name} starts with a #:schema line, and validates against the JSON Schema and the zod schema`, () => {
      const text = readFileSync(path.join(examplesDir, name), 'utf8');
      const first = text.split('\n')[0]!;
      expect(first).toBe('#:schema ../../schemas/llama-cpp-config-toml.schema.json');
      expect(existsSync(path.resolve(examplesDir, first.slice('#:schema '.length)))).toBe(true);
      const data = parseToml(text);
      expect(validateJson(data), ajv.errorsText(validateJson.errors)).toBe(true);
      const { config, problems } = parse(text);
      expect(problems).toEqual([]);
      expect(config?.instances.length).toBeGreaterThan(0);
    });
  }

  it('pass `taplo check` (what editors with Even Better TOML run)', async () => {
    const taplo = path.join(repo, 'node_modules/.bin/taplo');
    expect(existsSync(taplo), '@taplo/cli is a devDependency: run npm ci').toBe(true);
    const files = examples.map((f) => path.join(examplesDir, f));
    await expect(promisify(execFile)(taplo, ['check', '--no-auto-config', '--schema', `file://${schemaFile}`, ...files], { cwd: repo })).resolves.toBeDefined();
  }, 120_000); // taplo's CLI compiles its WebAssembly on every run: ~4 s of CPU, 30 s and more on a busy machine
});
