/**
 * The example TOMLs shipped for compose and Kubernetes: valid against the committed JSON Schema
 * (ajv), against infer-entry's own parser (schema + cross-instance checks), and in an editor —
 * `taplo check` follows each file's `#:schema` line, and flags a wrong value through it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { resolvePaths } from '../../src/paths.js';
import { CONFIG_SCHEMA, EXAMPLE_TOMLS, REPO, read } from './support.js';

const TAPLO = path.join(REPO, 'node_modules/.bin/taplo');
const rel = (file: string) => path.relative(REPO, file);

/** `taplo check` (async: the two runs of this file go in parallel, each takes seconds). */
function taplo(cwd: string, files: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(TAPLO, ['check', '--no-auto-config', ...files], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (error) => resolve({ status: null, output: error.message }));
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

describe('example configs', () => {
  const schema = JSON.parse(read(CONFIG_SCHEMA)) as Record<string, unknown>;
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

  it.each(EXAMPLE_TOMLS.map((f) => [rel(f), f]))('%s starts with a #:schema line pointing at schemas/', (_name, file) => {
    const first = read(file).split('\n')[0]!;
    const m = /^#:schema (\S+)$/.exec(first);
    expect(m, first).not.toBeNull();
    expect(path.resolve(path.dirname(file), m![1]!)).toBe(CONFIG_SCHEMA);
  });

  it.each(EXAMPLE_TOMLS.map((f) => [rel(f), f]))('%s is valid against the JSON Schema (ajv)', (_name, file) => {
    const ok = validate(parseToml(read(file)));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('ajv is live: a port out of range and an unknown control key are refused', () => {
    const doc = parseToml(read(EXAMPLE_TOMLS[0]!)) as any;
    doc.instance.llama3.server.port = 70000;
    expect(validate(doc)).toBe(false);
    const doc2 = parseToml(read(EXAMPLE_TOMLS[0]!)) as any;
    doc2.instance.llama3.control.gpu_idz = '0';
    expect(validate(doc2)).toBe(false);
  });

  it.each(EXAMPLE_TOMLS.map((f) => [rel(f), f]))('%s passes infer-entry’s own validation and builds the expected servers', (_name, file) => {
    // as in the image after the boot install: the default executable exists
    const installed = '/soft/app/llama-cpp/bin/llama-server';
    const { config, problems } = parseConfig(read(file), file, { env: {}, paths: resolvePaths({}), exists: (p) => p === installed });
    expect(problems).toEqual([]);
    expect(config!.instances.map((i) => [i.name, i.host, i.port, i.env.CUDA_VISIBLE_DEVICES])).toEqual([
      ['llama3', '0.0.0.0', 8080, '0'],
      ['qwen', '0.0.0.0', 8081, '1'],
    ]);
    for (const instance of config!.instances) {
      expect(instance.executable).toBe(installed);
      expect(instance.logFile).toBeUndefined();
      expect(instance.supervision.stopGraceMs).toBe(8000);
    }
  });

  describe('taplo', () => {
    let mirror: string;
    let runs: { original: { status: number | null; output: string }; broken: { status: number | null; output: string } };
    beforeAll(async () => {
      // A mirror of the repo layout in a temp dir, so the relative #:schema path resolves the same way.
      mirror = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-taplo-'));
      await fs.mkdir(path.join(mirror, 'schemas'));
      await fs.copyFile(CONFIG_SCHEMA, path.join(mirror, rel(CONFIG_SCHEMA)));
      const target = path.join(mirror, rel(EXAMPLE_TOMLS[0]!));
      await fs.mkdir(path.dirname(target), { recursive: true });
      const text = read(EXAMPLE_TOMLS[0]!);
      expect(text).toContain('port = 8080');
      await fs.writeFile(target, text.replace('port = 8080', 'port = "eighty"'));
      const [original, broken] = await Promise.all([taplo(REPO, EXAMPLE_TOMLS.map(rel)), taplo(mirror, [rel(EXAMPLE_TOMLS[0]!)])]);
      runs = { original, broken };
    }, 90_000);
    afterAll(async () => {
      await fs.rm(mirror, { recursive: true, force: true });
    });

    it('check passes on the examples, following their #:schema lines', () => {
      expect(runs.original.output).not.toMatch(/error/i);
      expect(runs.original.status).toBe(0);
    });

    it('flags a wrong value through the #:schema line', () => {
      expect(runs.broken.output).toContain('"eighty" is not of type "integer"');
      expect(runs.broken.status).not.toBe(0);
    });
  });
});
