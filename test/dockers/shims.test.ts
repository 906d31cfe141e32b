/**
 * The entry shims keep the names and argument/env semantics of the old infer-dev scripts: they hand
 * over to `infer-entry` exactly as documented (checked by running each one with a recording
 * `infer-entry` on PATH). That they are shellcheck-clean is the system tier's shims-shellcheck test.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureShims } from '../../src/installer/own-shims.js';
import { resolvePaths } from '../../src/paths.js';
import { SHIMS, SHIMS_DIR } from './support.js';

describe('entry shims', () => {
  it('are executable and start with a shebang', async () => {
    for (const shim of SHIMS) {
      const file = path.join(SHIMS_DIR, shim);
      expect((await fs.stat(file)).mode & 0o111, shim).toBe(0o111);
      expect((await fs.readFile(file, 'utf8')).startsWith('#!/bin/sh\n'), shim).toBe(true);
    }
  });

  describe('hand over to infer-entry', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-shims-'));
      // Records its argv, one per line, so the test sees exactly what the shim exec'd.
      await fs.writeFile(path.join(dir, 'infer-entry'), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
    });
    afterAll(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    function run(shim: string, args: string[], env: Record<string, string> = {}): { argv: string[]; stderr: string; status: number | null } {
      const result = spawnSync(path.join(SHIMS_DIR, shim), args, {
        encoding: 'utf8',
        env: { PATH: `${dir}:/usr/bin:/bin`, ...env },
        timeout: 10_000,
      });
      return { argv: result.stdout.split('\n').filter((l, i, a) => i < a.length - 1 || l !== ''), stderr: result.stderr, status: result.status };
    }

    it('infer-dev-entry.sh: boot -- CMD, bash without a command (as the old exec "$@" / exec bash)', () => {
      expect(run('infer-dev-entry.sh', ['sleep', 'infinity']).argv).toEqual(['boot', '--', 'sleep', 'infinity']);
      expect(run('infer-dev-entry.sh', ['sh', '-c', 'echo "a b"']).argv).toEqual(['boot', '--', 'sh', '-c', 'echo "a b"']);
      expect(run('infer-dev-entry.sh', []).argv).toEqual(['boot', '--', '/bin/bash']);
    });

    it('check-and-run-llama-cpp.sh: check-and-run with the arguments; exit 0 with a note when no config is named', () => {
      const withEnv = run('check-and-run-llama-cpp.sh', [], { AUTO_INFER_LLAMA_CPP_CONFIG: '/config/instances.toml' });
      expect(withEnv.argv).toEqual(['check-and-run']);
      expect(run('check-and-run-llama-cpp.sh', ['--config', '/x y.toml', 'llama3']).argv).toEqual(['check-and-run', '--config', '/x y.toml', 'llama3']);
      const none = run('check-and-run-llama-cpp.sh', []);
      expect(none.status).toBe(0);
      expect(none.argv).toEqual([]);
      expect(none.stderr).toContain('AUTO_INFER_LLAMA_CPP_CONFIG is not set');
    });

    it('install-llama-cpp-pkg.sh: install, an archive argument becomes --pkg, options pass through', () => {
      expect(run('install-llama-cpp-pkg.sh', []).argv).toEqual(['install']);
      expect(run('install-llama-cpp-pkg.sh', ['/pkg/llama b1.tar.gz', '--force']).argv).toEqual(['install', '--pkg', '/pkg/llama b1.tar.gz', '--force']);
      expect(run('install-llama-cpp-pkg.sh', ['--force']).argv).toEqual(['install', '--force']);
    });

    it('pass the exit status of infer-entry through (exec, no wrapper process)', async () => {
      const failing = path.join(dir, 'failing');
      await fs.mkdir(failing, { recursive: true });
      await fs.writeFile(path.join(failing, 'infer-entry'), '#!/bin/sh\nexit 66\n', { mode: 0o755 });
      const result = spawnSync(path.join(SHIMS_DIR, 'install-llama-cpp-pkg.sh'), [], { env: { PATH: `${failing}:/usr/bin:/bin` } });
      expect(result.status).toBe(66);
    });
  });

  describe('the ones infer-entry writes into a shims directory without them', () => {
    let dir: string;
    let own: string;
    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-own-shims-'));
      own = path.join(dir, 'root/shims');
      // both recorders print their argv; the "node" one also gets main.js first, dropped below
      await fs.writeFile(path.join(dir, 'infer-entry'), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
      await fs.writeFile(path.join(dir, "no'de"), '#!/bin/sh\nshift\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
      const written = await ensureShims(resolvePaths({ INFER_ENTRY_ROOT: path.join(dir, 'root') }), { node: path.join(dir, "no'de"), main: '/opt/a dir/main.js' });
      expect(written.written.sort()).toEqual(['check-and-run-llama-cpp.sh', 'install-llama-cpp-pkg.sh']);
    });
    afterAll(async () => {
      await fs.rm(dir, { recursive: true, force: true });
    });

    it("behave as the image's shims of the same name, argument for argument", () => {
      const cases: [string, string[], Record<string, string>][] = [
        ['check-and-run-llama-cpp.sh', [], { AUTO_INFER_LLAMA_CPP_CONFIG: '/config/instances.toml' }],
        ['check-and-run-llama-cpp.sh', ['--config', '/x y.toml', 'llama3'], {}],
        ['check-and-run-llama-cpp.sh', [], {}],
        ['install-llama-cpp-pkg.sh', [], {}],
        ['install-llama-cpp-pkg.sh', ["/pkg/it's b1.tar.gz", '--force'], {}],
        ['install-llama-cpp-pkg.sh', ['--force'], {}],
      ];
      for (const [shim, args, env] of cases) {
        const run = (file: string) => {
          const r = spawnSync(file, args, { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, ...env }, timeout: 10_000 });
          return { stdout: r.stdout, stderr: r.stderr, status: r.status };
        };
        expect(run(path.join(own, shim)), `${shim} ${args.join(' ')}`).toEqual(run(path.join(SHIMS_DIR, shim)));
      }
    });
  });
});
