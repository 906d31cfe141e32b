/**
 * The entry shims are POSIX sh and shellcheck-clean. System tier: shellcheck is a Debian tool
 * (`npm run test:system`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureShims, ownShimTexts } from '../../src/installer/own-shims.js';
import { resolvePaths } from '../../src/paths.js';
import { SHIMS, SHIMS_DIR, need } from './support.js';

describe('entry shims', () => {
  it('pass shellcheck (POSIX sh)', () => {
    const shellcheck = need('shellcheck', 'shellcheck');
    const files = SHIMS.map((s) => path.join(SHIMS_DIR, s));
    const result = spawnSync(shellcheck, ['--shell=sh', '--severity=style', ...files], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('shellcheck is live: a sloppy script is flagged', async () => {
    const shellcheck = need('shellcheck', 'shellcheck');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-shellcheck-'));
    try {
      await fs.writeFile(path.join(dir, 'bad.sh'), '#!/bin/sh\nexec infer-entry install $@\n');
      expect(spawnSync(shellcheck, ['--shell=sh', path.join(dir, 'bad.sh')]).status).not.toBe(0);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('the ones infer-entry writes itself pass shellcheck too, whatever the paths they embed', async () => {
    const shellcheck = need('shellcheck', 'shellcheck');
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-own-shims-'));
    try {
      await ensureShims(resolvePaths({ INFER_ENTRY_ROOT: path.join(dir, 'root') }), { node: path.join(dir, "no'de"), main: '/opt/a dir/main.js' });
      const files = Object.keys(ownShimTexts({ node: '/x', main: '/y' })).map((s) => path.join(dir, 'root/shims', s));
      const result = spawnSync(shellcheck, ['--shell=sh', '--severity=style', ...files], { encoding: 'utf8' });
      expect(result.stdout + result.stderr).toBe('');
      expect(result.status).toBe(0);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
