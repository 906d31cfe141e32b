import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigInvalidError, formatProblem } from '../../../src/config/problem.js';
import { ExitCode, MissingInputError } from '../../../src/errors.js';
import { resolvePaths } from '../../../src/paths.js';
import { tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

describe('loadConfig', () => {
  it('a missing file is MissingInputError E_CONFIG_NOT_FOUND (exit 66) naming the path', async () => {
    const file = path.join(dir, 'absent.toml');
    const error = await loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingInputError);
    expect(error).toMatchObject({ code: 'E_CONFIG_NOT_FOUND', exitCode: ExitCode.NO_INPUT });
    expect((error as Error).message).toContain(`${file} does not exist`);
  });

  it('a directory is not a config file', async () => {
    const error = await loadConfig(dir, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_CONFIG_NOT_FILE', exitCode: ExitCode.NO_INPUT });
    expect((error as Error).message).toContain('is a directory');
  });

  it('an invalid file throws ConfigInvalidError (E_CONFIG_INVALID, exit 78) carrying every problem', async () => {
    const file = path.join(dir, 'bad.toml');
    writeFileSync(file, '[master]\nenabel = true\n[instance.a.server]\nport = 0\n');
    const error = await loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }), fsChecks: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigInvalidError);
    const invalid = error as ConfigInvalidError;
    expect(invalid).toMatchObject({ code: 'E_CONFIG_INVALID', exitCode: ExitCode.CONFIG });
    expect(invalid.problems.map(formatProblem)).toEqual([
      `${file}:2:1 master.enabel: unknown key "enabel" in [master] (did you mean "enable"?)`,
      `${file}:4:1 instance.a.server.port: too small (expected ≥ 1, got 0)`,
    ]);
    expect(invalid.toUserString()).toContain('(and 1 more problem)');
    expect(invalid.toUserString()).toContain(`infer-entry validate ${file}`);
  });

  it('an invalid file carries the file problems of its instances too, even of one with a schema problem', async () => {
    const file = path.join(dir, 'bad.toml');
    writeFileSync(file, `[master]\nllama_cpp_path = "/bin/sh"\n[instance.a.server]\nctx_size = "big"\nmodel = "${dir}/absent.gguf"\n`);
    const error = (await loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }) }).catch((e: unknown) => e)) as ConfigInvalidError;
    expect(error).toBeInstanceOf(ConfigInvalidError);
    expect(error.problems.map((p) => [p.line, p.kind, p.subject])).toEqual([
      [4, 'schema', 'setting'],
      [5, 'fs', 'model'],
    ]);
    const quick = (await loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }), fsChecks: false }).catch((e: unknown) => e)) as ConfigInvalidError;
    expect(quick.problems.map((p) => p.kind)).toEqual(['schema']);
  });

  it('a missing model does not fail the load: it is a start-time problem of that instance', async () => {
    const file = path.join(dir, 'ok.toml');
    writeFileSync(file, '[instance.a.server]\nmodel = "/nonexistent/a.gguf"\n');
    const config = await loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }) });
    expect(config.file).toBe(file);
    expect(config.instances[0]!.model).toBe('/nonexistent/a.gguf');
  });

  it('uses the installed llama-server under INFER_ENTRY_ROOT and its lib dir when they exist', async () => {
    const file = path.join(dir, 'ok.toml');
    writeFileSync(file, '[instance.a.server]\nmodel = "/m.gguf"\n');
    const paths = resolvePaths({ INFER_ENTRY_ROOT: dir });
    mkdirSync(path.join(paths.install, 'bin'), { recursive: true });
    mkdirSync(path.join(paths.install, 'lib'));
    writeFileSync(path.join(paths.install, 'bin', 'llama-server'), '');
    const spec = (await loadConfig(file, { env: { PATH: '/nonexistent' }, paths })).instances[0]!;
    expect(spec.executable).toBe(path.join(paths.install, 'bin', 'llama-server'));
    expect(spec.env.LD_LIBRARY_PATH).toBe(`${paths.install}/bin:${paths.install}/lib`);
  });

  it('fsChecks: false assumes the install is in place without looking', async () => {
    const file = path.join(dir, 'ok.toml');
    writeFileSync(file, '[instance.a.server]\nmodel = "/m.gguf"\n');
    const paths = resolvePaths({ INFER_ENTRY_ROOT: path.join(dir, 'no-root') });
    const spec = (await loadConfig(file, { env: {}, paths, fsChecks: false })).instances[0]!;
    expect(spec.executable).toBe(path.join(paths.install, 'bin', 'llama-server'));
  });
});

describe('formatProblem', () => {
  it('leaves out what a problem does not have', () => {
    expect(formatProblem({ file: 'f.toml', line: 3, column: 7, path: ['a', 'b'], message: 'bad', kind: 'schema', subject: 'setting' })).toBe('f.toml:3:7 a.b: bad');
    expect(formatProblem({ file: 'f.toml', line: 3, column: 7, path: [], message: 'bad', kind: 'syntax', subject: 'toml' })).toBe('f.toml:3:7: bad');
    expect(formatProblem({ file: 'ENV', line: undefined, column: undefined, path: ['a'], message: 'bad', kind: 'schema', subject: 'overrides' })).toBe('ENV: a: bad');
  });
});
