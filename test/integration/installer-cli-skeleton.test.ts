/**
 * The CLI's basic promises: `--help` on every command,
 * `--version`, and the sysexits codes a user meets before any work is done.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands.js';
import { runCli } from '../../src/cli/run-cli.js';
import { silentLogger } from '../../src/log.js';
import { layoutEntries, writeArchive } from '../fixtures/installer/archive-builder.js';
import { cli } from '../fixtures/installer/run-cli.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = sink();
  const err = sink();
  const code = await runCli(argv, { env: {}, stdout: out.stream, stderr: err.stream, log: silentLogger() });
  return { code, stdout: out.text(), stderr: err.text() };
}

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

describe('--help and --version', () => {
  it('lists at least the installer and config commands', () => {
    expect(Object.keys(commands)).toEqual(expect.arrayContaining(['install', 'rollback', 'validate', 'schema']));
  });

  for (const name of Object.keys(commands)) {
    it(`${name} --help, -h and 'help ${name}' print its usage and the exit codes, exit 0, and run nothing`, async () => {
      for (const argv of [[name, '--help'], [name, '-h'], ['help', name], [name, '--bogus-option', '--help']]) {
        const { code, stdout, stderr } = await run(argv);
        expect(code, argv.join(' ')).toBe(0);
        expect(stdout, argv.join(' ')).toMatch(new RegExp(`^Usage: infer-entry ${name}\\b`));
        expect(stdout).toContain('Exit codes:');
        expect(stderr).toBe('');
      }
    });
  }

  it('--version, -V and version print the package.json version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V', 'version']) expect(await run([flag])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});

describe('exit codes a user meets first', () => {
  it('an unknown option is 64 with one line naming it and pointing at --help', async () => {
    const { code, stderr } = await run(['install', '--pgk', 'x.tar.gz']);
    expect(code).toBe(64);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/--pgk.*infer-entry install --help/);
  });

  it('an INFER_ENTRY_ROOT that cannot be created is 73', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const blocker = path.join(t.dir, 'a-file');
    await writeFile(blocker, '');
    const { code, stderr } = await cli(['install', '--pkg', pkg], { ...t.env, INFER_ENTRY_ROOT: path.join(blocker, 'root') });
    expect(code, stderr).toBe(73);
    expect(stderr.trim().split('\n').pop()).toMatch(/^infer-entry install: cannot create .*a-file\/root.* — check INFER_ENTRY_ROOT.* \[E_ROOT_DIR\]$/);
  });

  it('an unreadable AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES is a configuration error (78) naming the value', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const { code, stderr } = await cli(['install', '--pkg', pkg], { ...t.env, AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES: 'lots' });
    expect(code, stderr).toBe(78);
    expect(stderr).toContain('AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES="lots" is not a size');
  });
});
