import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/run-cli.js';
import { silentLogger } from '../../../src/log.js';
import { tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  const code = await runCli(args, { env: { INFER_ENTRY_ROOT: path.join(dir, 'root'), PATH: '/nonexistent', ...env }, stdout, stderr, log: silentLogger() });
  return { code, stdout: out, stderr: err };
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A model, an executable and a log dir that pass the file checks. */
function realFiles() {
  const model = write('m.gguf', 'GGUF');
  const exe = path.join(dir, 'bin', 'llama-server');
  mkdirSync(path.dirname(exe), { recursive: true });
  writeFileSync(exe, '#!/bin/sh\n');
  chmodSync(exe, 0o755);
  return { model, exe, logDir: dir };
}

describe('infer-entry validate', () => {
  it('a valid file: exit 0 and a one-line summary naming the instances', async () => {
    const { model, exe, logDir } = realFiles();
    const file = write('ok.toml', `[master]\nllama_cpp_path = "${exe}"\n[instance.control]\nlog_dir = "${logDir}"\n[instance.a.server]\nmodel = "${model}"\n[instance.b.control]\nenabled = false\n[instance.b.server]\nmodel = "${model}"\nport = 8081\n`);
    const { code, stdout } = await cli(['validate', file]);
    expect(stdout).toBe(`${file}: valid, 2 instances: a, b (disabled)\n`);
    expect(code).toBe(0);
  });

  it('the file defaults to $AUTO_INFER_LLAMA_CPP_CONFIG; no file at all is a usage error', async () => {
    const file = write('ok.toml', '[instance.a.server]\nmodel = "/m.gguf"\n');
    expect((await cli(['validate', '--no-fs-checks'], { AUTO_INFER_LLAMA_CPP_CONFIG: file })).code).toBe(0);
    const none = await cli(['validate']);
    expect(none.code).toBe(64);
    expect(none.stderr).toContain('AUTO_INFER_LLAMA_CPP_CONFIG');
  });

  it('an invalid file: every problem on its own line as file:line:col key: message, exit 78', async () => {
    const file = write('bad.toml', '[master]\nenabel = true\n[instance.a.server]\nmodel = "/m.gguf"\nport = 0\n[instance.b.server]\nctx_size = "big"\n');
    const { code, stdout } = await cli(['validate', '--no-fs-checks', file]);
    expect(code).toBe(78);
    expect(stdout.trim().split('\n')).toEqual([
      `${file}:2:1 master.enabel: unknown key "enabel" in [master] (did you mean "enable"?)`,
      `${file}:5:1 instance.a.server.port: too small (expected ≥ 1, got 0)`,
      `${file}:7:1 instance.b.server.ctx_size: wrong type (expected a number, got "big")`,
      `${file}: invalid, 3 problems`,
    ]);
  });

  it('schema problems do not hide file problems, of another instance or of the same one: every problem in one run', async () => {
    const { exe, logDir } = realFiles();
    const file = write('mixed.toml', `[master]\nllama_cpp_path = "${exe}"\n[instance.control]\nlog_dir = "${logDir}"\n[instance.a.server]\nmodel = "${dir}/absent.gguf"\nport = 8081\n[instance.b.server]\nmodel = "${dir}/absent.gguf"\nport = 99999\n`);
    const { code, stdout } = await cli(['validate', file]);
    expect(code).toBe(78);
    expect(stdout.trim().split('\n')).toEqual([
      `${file}:6:1 instance.a.server.model: model file ${dir}/absent.gguf does not exist (expected a readable .gguf file; mount the models directory or fix the path)`,
      `${file}:9:1 instance.b.server.model: model file ${dir}/absent.gguf does not exist (expected a readable .gguf file; mount the models directory or fix the path)`,
      `${file}:10:1 instance.b.server.port: too large (expected ≤ 65535, got 99999)`,
      `${file}: invalid, 3 problems`,
    ]);
  });

  it('a missing file: exit 66 with one line', async () => {
    const { code, stderr } = await cli(['validate', path.join(dir, 'nope.toml')]);
    expect(code).toBe(66);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('E_CONFIG_NOT_FOUND');
  });

  it('file problems (missing model, executable) are reported with the key\'s line, and --no-fs-checks skips them', async () => {
    const file = write('fs.toml', `[instance.control]\nlog_dir = "${dir}"\n[instance.a.server]\nport = 8080\nmodel = "${dir}/missing.gguf"\n[instance.b.server]\nmodel = "${dir}/missing-too.gguf"\nport = 8081\n`);
    const { code, stdout } = await cli(['validate', file]);
    expect(code).toBe(78);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${file}: master.llama_cpp_path: llama-server executable "llama-server" is not on PATH`));
    expect(lines[1]).toBe(`${file}:5:1 instance.a.server.model: model file ${dir}/missing.gguf does not exist (expected a readable .gguf file; mount the models directory or fix the path)`);
    expect(lines[2]).toMatch(new RegExp(`^${file}:7:1 instance.b.server.model: `));
    expect(lines[3]).toContain('invalid, 3 file problems');
    expect((await cli(['validate', '--no-fs-checks', file])).code).toBe(0);
  });

  it('--json: one object with valid, problems (with line/column/key/kind) and instances without secrets', async () => {
    const bad = write('bad.toml', '[instance.a.server]\nmodel = "/m.gguf"\nport = 0\n');
    const invalid = await cli(['validate', '--json', '--no-fs-checks', bad]);
    expect(invalid.code).toBe(78);
    expect(JSON.parse(invalid.stdout)).toEqual({
      file: bad,
      valid: false,
      problems: [
        {
          file: bad,
          line: 3,
          column: 1,
          key: 'instance.a.server.port',
          path: ['instance', 'a', 'server', 'port'],
          message: 'too small (expected ≥ 1, got 0)',
          kind: 'schema',
          subject: 'setting',
          instance: 'a',
        },
      ],
    });
    const good = write('good.toml', '[instance.a.server]\nmodel = "/m.gguf"\napi_key = "sk-top-secret-1"\n');
    const valid = await cli(['validate', '--json', '--no-fs-checks', good]);
    expect(valid.code).toBe(0);
    expect(valid.stdout).not.toContain('sk-top-secret-1');
    const parsed = JSON.parse(valid.stdout);
    expect(parsed).toMatchObject({ valid: true, enable: true, problems: [] });
    expect(parsed.instances[0]).toMatchObject({ name: 'a', port: 8080, env: { LLAMA_API_KEY: '[redacted]' } });
    const missing = await cli(['validate', '--json', path.join(dir, 'nope.toml')]);
    expect(missing.code).toBe(66);
    expect(JSON.parse(missing.stdout)).toMatchObject({ valid: false, error: { code: 'E_CONFIG_NOT_FOUND' } });
  });

  it('--print-commands shows the exact command line and environment per instance, secrets redacted', async () => {
    const file = write('cmd.toml', `[instance.control]\nlog_dir = "/var/log/llama"\n[instance.a.control]\ngpu_ids = "none"\n[instance.a.server]\nmodel = "/models/a b.gguf"\nport = 8081\napi_key = "sk-top-secret-2"\nextra_args = ["--jinja"]\n`);
    const { code, stdout } = await cli(['validate', '--no-fs-checks', '--print-commands', file]);
    expect(code).toBe(0);
    const root = path.join(dir, 'root');
    expect(stdout.split('\n').slice(0, 3)).toEqual([
      '# a (enabled; probed at http://127.0.0.1:8081/health; log /var/log/llama/llama-server-a.log)',
      '#   host 127.0.0.1 by default (LLAMA_ARG_HOST not set); port 8081 from the config',
      `env -u LLAMA_SERVER_ROUTER_PORT CUDA_VISIBLE_DEVICES='' LLAMA_API_KEY='[redacted]' LD_LIBRARY_PATH=${root}/llama-cpp/bin ${root}/llama-cpp/bin/llama-server --jinja --model '/models/a b.gguf' --port 8081 --host 127.0.0.1`,
    ]);
    expect(stdout).not.toContain('sk-top-secret-2');
  });
});

describe('infer-entry schema', () => {
  it('prints the JSON Schema that is committed', async () => {
    const { code, stdout } = await cli(['schema']);
    expect(code).toBe(0);
    const committed = readFileSync(fileURLToPath(new URL('../../../schemas/llama-cpp-config-toml.schema.json', import.meta.url)), 'utf8');
    expect(stdout).toBe(committed);
  });
});

describe('the built CLI (dist/src/main.js)', () => {
  it('validate exits 78 on an invalid file and 0 on a valid one', async () => {
    const main = fileURLToPath(new URL('../../../dist/src/main.js', import.meta.url));
    const run = promisify(execFile);
    const bad = write('bad.toml', '[instance.a.server]\nport = "x"\n');
    const failed = await run(process.execPath, [main, 'validate', '--no-fs-checks', bad]).catch((e: { code: number; stdout: string }) => e);
    expect((failed as { code: number }).code).toBe(78);
    const good = write('good.toml', '[instance.a.server]\nmodel = "/m.gguf"\n');
    const ok = await run(process.execPath, [main, 'validate', '--no-fs-checks', good]);
    expect(ok.stdout).toContain('valid, 1 instance: a');
  });
});
