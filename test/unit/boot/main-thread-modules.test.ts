/**
 * What the daemon's main thread loads to boot and supervise: zod (~4 MB of RSS) stays in the
 * config loader, off the main thread, even when a supervisor module reuses a constant of the
 * config's (the soak bench's RSS target depends on it; bench/README.md, section soak).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { FAKE_SERVER, MAIN } from '../control/harness.js';

const dist = path.dirname(MAIN);
const recorder = path.join(path.dirname(FAKE_SERVER), 'record-imports.mjs');
let dir: string | undefined;
afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

it('booting and supervising load no zod on the main thread', async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ie-imports-'));
  const file = path.join(dir, 'imports.txt');
  const entries = ['cli/boot.js', 'boot/real-deps.js', 'supervisor/supervisor.js', 'control/server.js'].map((m) => path.join(dist, m));
  const script = `for (const m of ${JSON.stringify(entries)}) await import(m);`;
  await promisify(execFile)(process.execPath, ['--import', recorder, '--input-type=module', '-e', script], { env: { ...process.env, RECORD_IMPORTS_FILE: file } });
  const urls = readFileSync(file, 'utf8').split('\n');
  expect(urls.some((u) => u.endsWith('/supervisor/process-group.js'))).toBe(true);
  expect(urls.filter((u) => u.includes('/node_modules/zod/'))).toEqual([]);
});
