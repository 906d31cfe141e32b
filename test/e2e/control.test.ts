// check-and-run through the control socket, plus the commands users type in `docker exec`.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { runCli } from './support/cli.js';
import { completion, freePort, health, type InstanceConf } from './support/llama.js';
import { isAlive } from './support/processes.js';
import { Scenario } from './support/scenario.js';
import { byName, readStatus, waitReady } from './support/status.js';

describe('the control plane with real llama-servers (scenario 5)', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let instances: InstanceConf[];
  const port = (name: string): number => instances.find((i) => i.name === name)!.port;

  beforeAll(async () => {
    s = await Scenario.create('control');
    instances = await s.writeConfig(e2e.model, [{ name: 'alpha' }, { name: 'gamma', enabled: false }]);
    s.boot(s.bootEnv(e2e.archives.documentedTarGz));
    await waitReady(s.env, ['alpha']);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('5a. an instance with enabled = false is known but not started at boot; check-and-run NAME starts it', async () => {
    const gamma = byName(await readStatus(s.env), 'gamma');
    expect(gamma.state).toBe('stopped');
    expect(gamma.pid).toBeNull();
    expect(await health(port('gamma'), 500)).toBeNull();

    const r = await runCli(['check-and-run', 'gamma'], s.env, 90_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/gamma/);
    expect(r.stdout).toMatch(/ready/);
    expect(byName(await readStatus(s.env), 'gamma').state).toBe('ready');
    expect((await completion(port('gamma'))).tokens).toBe(8);
  });

  it('5b. check-and-run starts an instance that was added to the file after boot, leaving the others running', async () => {
    const alphaPid = byName(await readStatus(s.env), 'alpha').pid;
    const deltaPort = await freePort();
    await s.appendConfig(`[instance.delta.server]\nport = ${deltaPort}`);

    const r = await runCli(['check-and-run', '--config', s.configFile, '--json', 'delta'], s.env, 90_000);
    expect(r.code, r.stderr).toBe(0);
    const list = await readStatus(s.env);
    expect(byName(list, 'delta').state).toBe('ready');
    expect(byName(list, 'alpha').pid).toBe(alphaPid);
    expect((await completion(deltaPort)).tokens).toBe(8);
  });

  it('stop, start, restart and logs act on one real instance', async () => {
    const oldPid = byName(await readStatus(s.env), 'gamma').pid!;
    const stop = await runCli(['stop', 'gamma'], s.env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(isAlive(oldPid)).toBe(false);
    expect(byName(await readStatus(s.env), 'gamma').state).toBe('stopped');
    expect(await health(port('gamma'), 500)).toBeNull();

    const start = await runCli(['start', 'gamma'], s.env);
    expect(start.code, start.stderr).toBe(0);
    const started = byName(await waitReady(s.env, ['gamma']), 'gamma');

    const restart = await runCli(['restart', 'gamma'], s.env);
    expect(restart.code, restart.stderr).toBe(0);
    const restarted = byName(await waitReady(s.env, ['gamma']), 'gamma');
    expect(restarted.pid).not.toBe(started.pid);
    expect((await completion(port('gamma'))).tokens).toBe(8);

    // llama-server logs to stderr; the daemon keeps the lines (e.g. the listening address).
    const logs = await runCli(['logs', 'gamma', '-n', '200'], s.env);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain(String(port('gamma')));
  });

  it('health is 0 while every enabled instance is ready, and not 0 once one is stopped', async () => {
    expect((await runCli(['health'], s.env)).code).toBe(0);
    expect((await runCli(['stop', 'alpha'], s.env)).code).toBe(0);
    expect((await runCli(['health'], s.env)).code).not.toBe(0);
    expect((await runCli(['start', 'alpha'], s.env)).code).toBe(0);
    await waitReady(s.env, ['alpha']);
    expect((await runCli(['health'], s.env)).code).toBe(0);
  });
});
