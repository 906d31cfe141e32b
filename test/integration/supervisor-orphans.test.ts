/**
 * No orphans: when the supervisor process itself is SIGKILLed (OOM killer, `docker kill` of a
 * non-PID-1 daemon), the kernel must take its llama-servers down with it (setpriv --pdeathsig).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSetpriv } from '../../src/supervisor/deps.js';
import { alive, fakeSpec, freePort, waitUntil } from '../unit/supervisor/fixtures.js';

const repo = path.resolve(import.meta.dirname, '../..');
let dir: string;

// A supervisor in its own Node process, from the build `npm test` makes first (dist/).
const supervisorModule = pathToFileURL(path.join(repo, 'dist/src/supervisor/supervisor.js')).href;
const DRIVER = `
import { createSupervisor } from '${supervisorModule}';
const noop = () => {};
const log = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => log };
const instances = JSON.parse(process.argv[2]);
const supervisor = createSupervisor({ log, deps: process.env.ORPHAN_TEST_NO_SETPRIV ? { setpriv: null } : {} });
await supervisor.reload({ file: '<test>', enable: true, instances });
const statuses = await supervisor.waitSettled(instances.map((i) => i.name));
process.stdout.write(JSON.stringify(statuses.map((s) => ({ state: s.state, pid: s.pid }))) + '\\n');
setInterval(noop, 1 << 30);
`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-orphans-'));
  await writeFile(path.join(dir, 'driver.mjs'), DRIVER);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('no orphans', () => {
  it('needs util-linux setpriv on this machine', () => {
    expect(findSetpriv(), 'setpriv not found: install the Debian package util-linux').not.toBeNull();
  });

  it('kills every llama-server when the supervisor is SIGKILLed', async () => {
    const specs = [fakeSpec('a', await freePort()), fakeSpec('b', await freePort(), { env: { FAKE_IGNORE_SIGTERM: '1' } })];
    let pids: number[] = [];
    const driver = spawn(process.execPath, [path.join(dir, 'driver.mjs'), JSON.stringify(specs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`driver printed no status within 15 s: ${out}`)), 15_000);
        driver.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) {
            clearTimeout(timer);
            resolve(out.split('\n')[0]!);
          }
        });
        driver.once('exit', (code) => reject(new Error(`driver exited early with ${code}`)));
      });
      const statuses = JSON.parse(line) as { state: string; pid: number }[];
      pids = statuses.map((s) => s.pid);
      expect(statuses.map((s) => s.state)).toEqual(['ready', 'ready']);
      for (const s of statuses) expect(alive(s.pid)).toBe(true);
      driver.kill('SIGKILL');
      await waitUntil(() => statuses.every((s) => !alive(s.pid)), 5_000, 'both fake servers died with their supervisor');
    } finally {
      driver.kill('SIGKILL');
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
