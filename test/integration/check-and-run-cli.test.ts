import fs from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alive, baseEnv, cleanUpRoot, cli, exitWithin, fakePids, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

let root: string;
let env: NodeJS.ProcessEnv;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-car-cli-');
  env = baseEnv(root);
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

function start(args: string[], extra: NodeJS.ProcessEnv = {}): Running {
  const r = startCli(args, { ...env, ...extra });
  running.push(r);
  return r;
}

describe('infer-entry check-and-run', () => {
  it('an invalid config prints its problems, starts nothing and exits 78', async () => {
    const file = `${root}/bad.toml`;
    await fs.writeFile(file, '[instance.a.server]\nport = 99999\nmodle = 1\n[instance.a.control]\nrestart = "sometimes"\n');
    const r = await cli(['check-and-run', '--config', file], env);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('restart');
    expect(r.stderr).toContain('port');
    expect(await fakePids(root)).toEqual([]);
  });

  it('without a daemon: supervises the named instance in the foreground until Ctrl-C', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const file = await writeConfig(root, [
      { name: 'a', port: p1 },
      { name: 'b', port: p2, enabled: false },
    ]);
    const fg = start(['check-and-run', '--config', file, 'b']);
    await waitFor('b ready in the table', () => /^b\s+ready/m.test(fg.output()), 20_000);
    expect(fg.output()).not.toMatch(/^a\s/m);
    const status = await cli(['status'], env);
    expect(status.stdout).toMatch(/^a\s+stopped/m);
    const pids = await fakePids(root);
    expect(pids).toHaveLength(1);
    fg.child.kill('SIGINT');
    expect((await exitWithin(fg, 15_000)).code).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('with a daemon: asks it to load the file and start the enabled instances, prints their states', async () => {
    const port = await freePort();
    const file = await writeConfig(root, [{ name: 'a', port }]);
    const daemon = start(['boot']);
    await waitFor('the control socket', () => fs.stat(`${root}/run/infer-entry.sock`).then(() => true, () => false));
    const r = await cli(['check-and-run'], { ...env, AUTO_INFER_LLAMA_CPP_CONFIG: file });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^a\\s+ready\\s+\\d+\\s+127\\.0\\.0\\.1:${port}`, 'm'));
    expect(r.stderr).toContain('added 1');
    // the daemon keeps supervising after check-and-run returned
    expect((await cli(['health'], env)).code).toBe(0);
    daemon.child.kill('SIGTERM');
    expect((await exitWithin(daemon, 15_000)).code).toBe(0);
    expect((await fakePids(root)).filter(alive)).toEqual([]);
  });

  it('with a daemon: an instance that cannot start is reported as failed with its class (exit 1)', async () => {
    const file = await writeConfig(root, [{ name: 'broken', port: await freePort(), server: ['fake_fail = "bad-argument"'] }]);
    const daemon = start(['boot']);
    await waitFor('the control socket', () => fs.stat(`${root}/run/infer-entry.sock`).then(() => true, () => false));
    const r = await cli(['check-and-run', '--config', file], env, 60_000);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^broken\s+failed: bad-argument/m);
    daemon.child.kill('SIGTERM');
    expect((await exitWithin(daemon, 15_000)).code).toBe(0);
  });
});
