/**
 * Pathological structure and characters through `infer-entry validate`:
 * nesting past the limit (in the file and in AUTO_INFER_LLAMA_CPP_OVERRIDES),
 * `__proto__` keys (one rule for both), NUL in a string, control characters
 * in --print-commands. Each is a one-line problem with its place and exit 78,
 * never exit 70 or a stack overflow.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseEnv, cli, makeRoot } from '../unit/control/harness.js';

let root: string;
beforeEach(async () => {
  root = await makeRoot('ie-hostile-struct-');
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const p = path.join(root, name);
  await fs.writeFile(p, text);
  return p;
}

const VALID = '[instance.a.server]\nmodel = "/models/a.gguf"\nport = 8081\n';

describe('nesting past 32 levels is a config error with its place', () => {
  it('1000 nested inline tables and 1000 nested lists: a syntax error on their line', async () => {
    const f = await file('deep.toml', `${VALID}x = ${'{a='.repeat(1000)}1${'}'.repeat(1000)}\n`);
    const r = await cli(['validate', '--no-fs-checks', f], baseEnv(root));
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(/deep\.toml:4:\d+: TOML syntax error: values nested more than 32 levels deep/);
    const lists = await file('lists.toml', `${VALID}x = ${'['.repeat(1000)}${']'.repeat(1000)}\n`);
    expect((await cli(['validate', '--no-fs-checks', lists], baseEnv(root))).stdout).toContain('lists.toml:4:');
  });

  it('a dotted table header 40 keys deep', async () => {
    const f = await file('hdr.toml', `${VALID}[${Array.from({ length: 40 }, (_, k) => `k${k}`).join('.')}]\nq = 1\n`);
    const r = await cli(['validate', '--no-fs-checks', f], baseEnv(root));
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(/hdr\.toml:4:2 k0\.k1\.[\w.]+: nested more than 32 levels deep/);
  });

  it('AUTO_INFER_LLAMA_CPP_OVERRIDES nested 20 000 deep: the variable is named, not the file', async () => {
    const f = await file('ok.toml', VALID);
    const env = baseEnv(root, { AUTO_INFER_LLAMA_CPP_OVERRIDES: `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}` });
    const r = await cli(['validate', '--no-fs-checks', f], env);
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(/^AUTO_INFER_LLAMA_CPP_OVERRIDES: a\.a\.[a.]+: nested more than 32 levels deep/m);
    expect(r.stderr).not.toMatch(/Maximum call stack|\n\s+at /);
  });
});

describe('one rule for prototype keys in the file and in the variable', () => {
  it('__proto__ in the file is refused with its line, as in AUTO_INFER_LLAMA_CPP_OVERRIDES', async () => {
    const f = await file('proto.toml', `${VALID}__proto__ = { polluted = true }\n`);
    const fromFile = await cli(['validate', '--no-fs-checks', f], baseEnv(root));
    expect(fromFile.code).toBe(78);
    expect(fromFile.stdout).toContain(`${f}:4:1 instance.a.server.__proto__: key "__proto__" is not allowed (expected config keys only)`);

    const ok = await file('ok.toml', VALID);
    const env = baseEnv(root, { AUTO_INFER_LLAMA_CPP_OVERRIDES: '{"instance":{"a":{"server":{"__proto__":{"polluted":true}}}}}' });
    const fromEnv = await cli(['validate', '--no-fs-checks', ok], env);
    expect(fromEnv.code).toBe(78);
    expect(fromEnv.stdout).toContain('AUTO_INFER_LLAMA_CPP_OVERRIDES: instance.a.server.__proto__: key "__proto__" is not allowed (expected config keys only)');
  });
});

describe('durations and counts beyond what timers and counters hold', () => {
  it('"600h", 10^11 seconds and a threshold of 100000 are each refused with line and key', async () => {
    const f = await file('timers.toml', '[instance.control]\nhealth_interval = "600h"\nstop_grace_period = 99999999999\nhealth_failure_threshold = 100000\nhealth_timeout = "596h"\n' + VALID);
    const r = await cli(['validate', '--no-fs-checks', f], baseEnv(root));
    expect(r.code).toBe(78);
    expect(r.stdout).toContain(`${f}:2:1 instance.control.health_interval: invalid value (expected at most 596h, 2147483 s (2^31-1 ms, the longest timer Node.js can hold), got "600h")`);
    expect(r.stdout).toContain(`${f}:3:1 instance.control.stop_grace_period: invalid value (expected at most 596h`);
    expect(r.stdout).toContain(`${f}:4:1 instance.control.health_failure_threshold: too large (expected ≤ 10000, got 100000)`);
    expect(r.stdout).not.toContain('health_timeout');
    expect(r.stdout).toContain('invalid, 3 problems');
  });
});

describe('characters', () => {
  it('a NUL in a string is a problem at validate time (with the other problems), not a spawn failure', async () => {
    const f = await file('nul.toml', `${VALID}alias = "a\\u0000b"\nctx_size = "big"\n`);
    const r = await cli(['validate', '--no-fs-checks', f], baseEnv(root));
    expect(r.code).toBe(78);
    expect(r.stdout).toContain(`${f}:4:1 instance.a.server.alias: contains a NUL character`);
    expect(r.stdout).toContain(`${f}:5:1 instance.a.server.ctx_size:`);
  });

  it('--print-commands escapes control characters, and bash reads the printed command back exactly', async () => {
    const f = await file('ctl.toml', `${VALID}alias = "red\\u001b[31m\\r\\nline\\u202eevil"\n`);
    const r = await cli(['validate', '--no-fs-checks', '--print-commands', f], baseEnv(root));
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    const command = r.stdout.split('\n').find((l) => l.startsWith('env '))!;
    expect(command).toContain(`--alias $'red\\x1b[31m\\r\\nline\\u202eevil'`);
    const args = execFileSync('bash', ['-c', `set -- ${command}; printf '%s\\0' "$@"`], { encoding: 'utf8' }).split('\0');
    expect(args[args.indexOf('--alias') + 1]).toBe('red\u001b[31m\r\nline\u202eevil');
  });
});
