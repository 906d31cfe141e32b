/**
 * One schema problem in an instance does not hide that instance's file problems:
 * `infer-entry validate` (the real CLI) reports both in one run, each with its
 * place and key.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseEnv, cli, makeRoot } from '../unit/control/harness.js';

let root: string;
beforeEach(async () => {
  root = await makeRoot('ie-hostile-every-');
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function setup(text: (missing: string, exe: string) => string): Promise<{ file: string; missing: string }> {
  const exe = path.join(root, 'bin', 'llama-server');
  await fs.mkdir(path.dirname(exe), { recursive: true });
  await fs.writeFile(exe, '#!/bin/sh\n', { mode: 0o755 });
  const missing = path.join(root, 'models', 'absent.gguf');
  const file = path.join(root, 'instances.toml');
  await fs.writeFile(file, text(missing, exe));
  return { file, missing };
}

describe('every problem of an instance in one run', () => {
  it('a bad ctx_size and a missing model of the same instance: both lines, exit 78', async () => {
    const { file, missing } = await setup(
      (m, exe) => `[master]\nllama_cpp_path = "${exe}"\n\n[instance.a.server]\nmodel = "${m}"\nctx_size = "big"\nport = 8081\n`,
    );
    const r = await cli(['validate', file], baseEnv(root));
    expect(r.code).toBe(78);
    // In file order, as an editor shows them.
    expect(r.stdout.trim().split('\n')).toEqual([
      `${file}:5:1 instance.a.server.model: model file ${missing} does not exist (expected a readable .gguf file; mount the models directory or fix the path)`,
      `${file}:6:1 instance.a.server.ctx_size: wrong type (expected a number, got "big")`,
      `${file}: invalid, 2 problems`,
    ]);

    // --json carries the same two, typed.
    const json = JSON.parse((await cli(['validate', '--json', file], baseEnv(root))).stdout) as { problems: { key: string; kind: string; subject: string; instance?: string }[] };
    expect(json.problems.map((p) => [p.key, p.kind, p.subject, p.instance])).toEqual([
      ['instance.a.server.model', 'fs', 'model', 'a'],
      ['instance.a.server.ctx_size', 'schema', 'setting', 'a'],
    ]);
  });

  it('the bad key itself is not file-checked, the other instances still are, --no-fs-checks skips them', async () => {
    const { file, missing } = await setup(
      (m, exe) => `[master]\nllama_cpp_path = "${exe}"\n\n[instance.a.server]\nmodel = 5\nport = 8081\n\n[instance.b.server]\nmodel = "${m}"\nbatch_size = -1\nport = 8082\n`,
    );
    const r = await cli(['validate', file], baseEnv(root));
    expect(r.code).toBe(78);
    const keys = r.stdout.trim().split('\n').slice(0, -1).map((l) => /^\S+ (\S+):/.exec(l)?.[1]);
    expect(keys).toEqual(['instance.a.server.model', 'instance.b.server.model', 'instance.b.server.batch_size']);
    expect(r.stdout).toContain(`model file ${missing} does not exist`);
    const quick = await cli(['validate', '--no-fs-checks', file], baseEnv(root));
    expect(quick.code).toBe(78);
    expect(quick.stdout).not.toContain('does not exist');
    expect(quick.stdout.trim().split('\n').at(-1)).toBe(`${file}: invalid, 2 problems`);
  });
});
