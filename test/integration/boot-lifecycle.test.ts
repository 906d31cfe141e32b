import fs from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alive, baseEnv, cleanUpRoot, cli, exitWithin, fakePids, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-boot-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

function boot(args: string[], extra: NodeJS.ProcessEnv = {}): Running {
  const r = startCli(['boot', ...args], baseEnv(root, extra));
  running.push(r);
  return r;
}

describe('infer-entry boot', () => {
  it('without CMD runs as a daemon until SIGTERM, then exits 0 and removes its socket', async () => {
    const daemon = boot([]);
    const socket = `${root}/run/infer-entry.sock`;
    await waitFor('the control socket', () => fs.stat(socket).then(() => true, () => false));
    expect((await cli(['health'], baseEnv(root))).code).toBe(0);
    daemon.child.kill('SIGTERM');
    expect(await exitWithin(daemon)).toEqual({ code: 0, signal: null });
    await expect(fs.stat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('with CMD passes its exit status through and the CMD sees the terminal streams', async () => {
    const r = boot(['--', 'sh', '-c', 'echo "from the command"; exit 42']);
    expect(await exitWithin(r)).toEqual({ code: 42, signal: null });
    expect(r.output()).toContain('from the command\n');
  });

  it('with CMD reports 128+N when the CMD dies of signal N', async () => {
    const r = boot(['--', 'sh', '-c', 'kill -USR2 $$']);
    expect((await exitWithin(r)).code).toBe(128 + 12);
  });

  it('forwards SIGTERM to the CMD and exits with its status', async () => {
    const marker = `${root}/trapped`;
    const r = boot(['--', 'sh', '-c', `trap 'echo got-term > ${marker}; exit 5' TERM; while :; do sleep 0.05; done`]);
    await waitFor('the command to start', () => r.logs().some((l) => l.msg === 'command started'));
    await new Promise((resolve) => setTimeout(resolve, 200)); // let sh install its trap
    r.child.kill('SIGTERM');
    expect(await exitWithin(r)).toEqual({ code: 5, signal: null });
    expect(await fs.readFile(marker, 'utf8')).toBe('got-term\n');
  });

  it('exits 127 when the CMD is not found', async () => {
    const r = boot(['--', 'no-such-command-here']);
    expect((await exitWithin(r)).code).toBe(127);
    expect(r.output()).toContain('no-such-command-here');
  });

  it('a second daemon on the same root is refused with exit 75 while the first keeps serving', async () => {
    const first = boot([]);
    await waitFor('the control socket', () => fs.stat(`${root}/run/infer-entry.sock`).then(() => true, () => false));
    const second = boot([]);
    expect((await exitWithin(second)).code).toBe(75);
    expect(second.output()).toContain('E_DAEMON_RUNNING');
    expect((await cli(['health'], baseEnv(root))).code).toBe(0);
    first.child.kill('SIGINT');
    expect((await exitWithin(first)).code).toBe(0);
  });

  it('a second SIGTERM kills an instance that ignores SIGTERM at once (exit 143)', async () => {
    const port = await freePort();
    const file = await writeConfig(root, [{ name: 'stubborn', port, server: ['fake_ignore_sigterm = "1"'], control: ['stop_grace_period = "60s"'] }]);
    const r = boot([], { AUTO_INFER_LLAMA_CPP_ON_BOOT: 'true', AUTO_INFER_LLAMA_CPP_CONFIG: file });
    await waitFor('the instance ready', () => r.output().includes('"to":"ready"'), 15_000);
    const [pid] = await fakePids(root);
    r.child.kill('SIGTERM');
    await waitFor('the graceful stop to begin', () => r.logs().some((l) => l.msg === 'stopping'));
    r.child.kill('SIGTERM');
    // exitWithin SIGKILLs boot after 15 s, far below the 60 s grace: only the forced stop passes
    expect(await exitWithin(r, 15_000)).toEqual({ code: 143, signal: null });
    await waitFor('the instance gone', () => !alive(pid!));
  });

  it('an install failure is logged at error level with code and hint, and boot continues', async () => {
    const r = boot(['--', 'true'], {
      AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: '1',
      AUTO_INFER_LLAMA_CPP_PKG_PATH: `${root}/missing-llama.tar.gz`,
    });
    expect((await exitWithin(r)).code).toBe(0);
    const failure = r.logs().find((l) => l.level === 50 && String(l.msg).startsWith('INSTALL FAILED'));
    expect(failure, r.output()).toBeDefined();
    expect(failure?.code).toMatch(/^E_/);
    expect(failure?.hint).toBeTruthy();
  });
});
