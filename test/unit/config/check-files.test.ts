import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkInstanceFiles } from '../../../src/config/check-files.js';
import type { ConfigProblem } from '../../../src/config/problem.js';
import type { InstanceSpec } from '../../../src/config/types.js';
import { parseOk, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

function spec(over: { model?: string; executable?: string; logFile?: string | undefined }): InstanceSpec {
  const base = parseOk('[instance.m.server]\nmodel = "/m.gguf"\n').instances[0]!;
  return { ...base, ...over } as InstanceSpec;
}

function makeExecutable(): string {
  const exe = path.join(dir, 'bin', 'llama-server');
  mkdirSync(path.dirname(exe), { recursive: true });
  writeFileSync(exe, '#!/bin/sh\n');
  chmodSync(exe, 0o755);
  return exe;
}

const isRoot = process.getuid?.() === 0;

describe('checkInstanceFiles', () => {
  it('a complete instance has no problems', async () => {
    const model = path.join(dir, 'm.gguf');
    writeFileSync(model, 'GGUF');
    expect(await checkInstanceFiles(spec({ model, executable: makeExecutable(), logFile: path.join(dir, 'logs', 'm.log') }))).toEqual([]);
    // The supervisor's call creates the log directory, as the old launcher's mkdir -p did.
    expect(existsSync(path.join(dir, 'logs'))).toBe(true);
  });

  it('a missing model and a missing executable are fs problems of that instance, with the path and key', async () => {
    const problems = await checkInstanceFiles(spec({ model: path.join(dir, 'nope.gguf'), executable: path.join(dir, 'no-llama-server'), logFile: undefined }), { file: 'cfg.toml' });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatchObject({ file: 'cfg.toml', kind: 'fs', subject: 'executable', instance: 'm', path: ['master', 'llama_cpp_path'] });
    expect(problems[0]!.message).toContain(`${dir}/no-llama-server does not exist`);
    expect(problems[1]).toMatchObject({ kind: 'fs', subject: 'model', instance: 'm', path: ['instance', 'm', 'server', 'model'] });
    expect(problems[1]!.message).toContain(`model file ${dir}/nope.gguf does not exist`);
  });

  it('an executable without the x bit, and a directory given as model', async () => {
    const exe = path.join(dir, 'llama-server');
    writeFileSync(exe, '');
    chmodSync(exe, 0o644);
    const problems = await checkInstanceFiles(spec({ model: dir, executable: exe, logFile: undefined }));
    expect(problems.map((p) => p.message)).toEqual([
      `llama-server executable ${exe} is not executable (expected mode +x)`,
      expect.stringContaining(`model file ${dir} is not a regular file`),
    ]);
  });

  it('a bare executable name is looked up on PATH', async () => {
    makeExecutable();
    expect(await checkInstanceFiles(spec({ executable: 'llama-server', logFile: undefined, model: undefined }), { env: { PATH: `/nonexistent:${dir}/bin` } })).toEqual([]);
    const missing = await checkInstanceFiles(spec({ executable: 'llama-server', logFile: undefined, model: undefined }), { env: { PATH: '/nonexistent' } });
    expect(missing[0]!.message).toMatch(/not on PATH/);
  });

  it('split models: the first shard must be given, and every shard must be present', async () => {
    const exe = makeExecutable();
    const shard = (n: number) => path.join(dir, `big-0000${n}-of-00003.gguf`);
    writeFileSync(shard(1), 'GGUF');
    writeFileSync(shard(3), 'GGUF');
    const incomplete = await checkInstanceFiles(spec({ model: shard(1), executable: exe, logFile: undefined }));
    expect(incomplete.map((p) => p.message)).toEqual([expect.stringContaining('is incomplete: big-00002-of-00003.gguf missing')]);
    writeFileSync(shard(2), 'GGUF');
    expect(await checkInstanceFiles(spec({ model: shard(1), executable: exe, logFile: undefined }))).toEqual([]);
    const second = await checkInstanceFiles(spec({ model: shard(2), executable: exe, logFile: undefined }));
    expect(second.map((p) => p.message)).toEqual([expect.stringContaining('expected the first shard, big-00001-of-00003.gguf')]);
  });

  it('validate (create: false) does not create the log directory, and reports one that cannot be created', async () => {
    const exe = makeExecutable();
    const logFile = path.join(dir, 'new', 'deeper', 'm.log');
    expect(await checkInstanceFiles(spec({ model: undefined, executable: exe, logFile }), { create: false })).toEqual([]);
    expect(existsSync(path.join(dir, 'new'))).toBe(false);
    const blocker = path.join(dir, 'file');
    writeFileSync(blocker, '');
    const problems = await checkInstanceFiles(spec({ model: undefined, executable: exe, logFile: path.join(blocker, 'm.log') }));
    expect(problems).toEqual([expect.objectContaining({ path: ['instance', 'm', 'control', 'log_file'], kind: 'fs', subject: 'log-file', message: `log directory ${blocker} is not a directory` })]);
  });

  // Root reads and writes anything, so as root the check runs in a child process as "nobody"
  // (the built dist/ code): the test runs everywhere instead of being skipped where CI runs it.
  it('an unreadable model and a read-only log directory are reported (as root: checked as uid 65534)', async () => {
    chmodSync(dir, 0o755);
    const exe = makeExecutable();
    const model = path.join(dir, 'secret.gguf');
    writeFileSync(model, 'GGUF');
    chmodSync(model, 0o000);
    const logs = path.join(dir, 'ro');
    mkdirSync(logs);
    chmodSync(logs, 0o555);
    const target = spec({ model, executable: exe, logFile: path.join(logs, 'm.log') });
    const problems = isRoot ? checkAsNobody(target) : await checkInstanceFiles(target);
    expect(problems.map((p) => p.message)).toEqual([expect.stringContaining('is not readable'), `log directory ${logs} is not writable`]);
    chmodSync(logs, 0o755);
  });
});

function checkAsNobody(target: InstanceSpec): ConfigProblem[] {
  const dist = fileURLToPath(new URL('../../../dist/src/', import.meta.url));
  // The checkout may sit in a directory uid 65534 cannot enter (mktemp -d is 0700): run a copy of
  // the built modules from a world-readable place instead.
  const stage = mkdtempSync(path.join(os.tmpdir(), 'ie-nobody-'));
  try {
    chmodSync(stage, 0o755);
    for (const rel of ['config/check-files.js', 'config/types.js', 'find-on-path.js']) {
      const from = path.join(dist, rel);
      if (!existsSync(from)) throw new Error(`${from} is missing: run \`npm run build\` first (npm test does)`);
      mkdirSync(path.dirname(path.join(stage, 'src', rel)), { recursive: true, mode: 0o755 });
      copyFileSync(from, path.join(stage, 'src', rel));
    }
    const module = path.join(stage, 'src/config/check-files.js');
    const script = `const { checkInstanceFiles } = await import(${JSON.stringify(module)}); process.stdout.write(JSON.stringify(await checkInstanceFiles(JSON.parse(process.env.SPEC))));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: stage, uid: 65534, gid: 65534, env: { PATH: process.env.PATH, SPEC: JSON.stringify(target) } });
    return JSON.parse(out.toString()) as ConfigProblem[];
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
