// The daemon as PID 1 of a fresh PID namespace, as in a container without tini.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { CLI, logEvents, type Daemon } from './support/cli.js';
import { completion, type InstanceConf } from './support/llama.js';
import { commOf, descendants, isAlive, llamaServersUnder, procState, waitFor } from './support/processes.js';
import { Scenario } from './support/scenario.js';
import { byName, readStatus, waitReady } from './support/status.js';

/** The pid list of /proc/PID/status `NSpid`: outer pid first, the pid inside the namespace last. */
function nsPids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'));
  return line ? line.split(/\s+/).slice(1).filter(Boolean).map(Number) : [];
}

describe('boot as PID 1 in a fresh PID namespace (scenario 9)', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let instances: InstanceConf[];
  let unshare: Daemon;
  let inner: number;

  beforeAll(async () => {
    const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
    if (probe.error || probe.status !== 0) {
      throw new Error(`unshare --pid --fork --mount-proc does not work here (package util-linux, needs root): ${probe.error?.message ?? probe.stderr}`);
    }
    s = await Scenario.create('pid1');
    instances = await s.writeConfig(e2e.model, [{ name: 'alpha' }, { name: 'beta' }]);
    unshare = s.boot(s.bootEnv(e2e.archives.upstreamTarGz), ['unshare', '--pid', '--fork', '--mount-proc', process.execPath, CLI]);
    inner = await waitFor(
      'the daemon inside the namespace',
      () => descendants(unshare.pid).find((pid) => commOf(pid) === 'node' && nsPids(pid).at(-1) === 1),
      20_000,
      100,
    );
    await waitReady(s.env, ['alpha', 'beta']);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('runs as PID 1, installs and serves', async () => {
    expect(nsPids(inner).at(-1)).toBe(1);
    expect(logEvents(unshare.output()).some((e) => e.pid === 1)).toBe(true);
    for (const inst of instances) expect((await completion(inst.port)).tokens).toBe(8);
  });

  it('restarts a llama-server killed with SIGKILL and reaps it (no zombie left)', async () => {
    const old = byName(await readStatus(s.env), 'alpha').pid!;
    // status shows pids as the daemon sees them (inside the namespace); find the outer pid to kill it.
    const outer = llamaServersUnder(s.dir).find((pid) => nsPids(pid).at(-1) === old) ?? old;
    process.kill(outer, 'SIGKILL');
    await waitFor(
      'alpha ready again with a new pid',
      async () => {
        const a = byName(await readStatus(s.env), 'alpha');
        return a.state === 'ready' && a.pid !== old ? a : undefined;
      },
      60_000,
      200,
    );
    expect(procState(outer), `pid ${outer} left as a zombie`).toBeUndefined();
    expect((await completion(instances[0]!.port)).tokens).toBe(8);
  });

  it('SIGTERM to PID 1 stops every llama-server and the namespace exits 0', async () => {
    const servers = llamaServersUnder(s.dir);
    expect(servers.length).toBe(2);
    process.kill(inner, 'SIGTERM');
    const exit = await Promise.race([unshare.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of servers) expect(isAlive(pid)).toBe(false);
    const stopped = logEvents(unshare.output()).filter((e) => e.to === 'stopped').map((e) => e.instance);
    expect(stopped.sort()).toEqual(['alpha', 'beta']);
  });
});

describe('boot under tini as PID 1, as the image runs it (scenario 9)', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let instances: InstanceConf[];
  let unshare: Daemon;

  beforeAll(async () => {
    const tini = spawnSync('tini', ['--version']);
    if (tini.error) throw new Error('tini is not installed: apt-get install tini (the image runs infer-entry under it)');
    s = await Scenario.create('tini');
    instances = await s.writeConfig(e2e.model, [{ name: 'alpha' }]);
    unshare = s.boot(s.bootEnv(e2e.archives.olderZip), ['unshare', '--pid', '--fork', '--mount-proc', 'tini', '--', process.execPath, CLI]);
    await waitReady(s.env, ['alpha']);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('serves, and SIGTERM to tini (PID 1) reaches the daemon: servers stop, exit 0', async () => {
    expect((await completion(instances[0]!.port)).tokens).toBe(8);
    const tiniPid = descendants(unshare.pid).find((pid) => commOf(pid) === 'tini' && nsPids(pid).at(-1) === 1);
    expect(tiniPid, 'tini is not PID 1 of the namespace').toBeDefined();
    const servers = llamaServersUnder(s.dir);
    expect(servers.length).toBe(1);
    process.kill(tiniPid!, 'SIGTERM');
    const exit = await Promise.race([unshare.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of servers) expect(isAlive(pid)).toBe(false);
  });
});
