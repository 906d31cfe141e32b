import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAndRun, type CheckAndRunOptions } from '../../../src/cli/check-and-run.js';
import { startDaemon, type Daemon } from '../../../src/boot/daemon.js';
import { silentLogger } from '../../../src/log.js';
import { resolvePaths } from '../../../src/paths.js';
import { FakeSignals, FakeSupervisor, fakeDeps, sink } from '../../fixtures/daemon-fakes.js';

let root: string;
let env: NodeJS.ProcessEnv;
let daemon: Daemon | undefined;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-car-'));
  env = { INFER_ENTRY_ROOT: root };
});
afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
  await fs.rm(root, { recursive: true, force: true });
});

async function config(data: unknown): Promise<string> {
  const file = path.join(root, 'c.json');
  await fs.writeFile(file, JSON.stringify(data));
  return file;
}

function options(supervisor: FakeSupervisor, extra: Partial<CheckAndRunOptions>) {
  const stdout = sink();
  const stderr = sink();
  const o: CheckAndRunOptions = {
    file: undefined,
    names: [],
    json: false,
    env,
    paths: resolvePaths(env),
    log: silentLogger(),
    deps: fakeDeps(supervisor),
    stdout,
    stderr,
    ...extra,
  };
  return { o, stdout, stderr };
}

describe('check-and-run', () => {
  it('an invalid config prints every problem, starts nothing and exits 78', async () => {
    const supervisor = new FakeSupervisor();
    const file = await config({ invalid: ['bad port', 'bad model'] });
    const { o, stderr } = options(supervisor, { file });
    await expect(checkAndRun(o)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', exitCode: 78 });
    expect(stderr.text()).toContain('bad port');
    expect(stderr.text()).toContain('bad model');
    expect(supervisor.reloads).toHaveLength(0);
  });

  it('an unknown instance name is a usage error naming the known ones', async () => {
    const file = await config({ instances: [{ name: 'a' }] });
    const { o } = options(new FakeSupervisor(), { file, names: ['zzz'] });
    await expect(checkAndRun(o)).rejects.toMatchObject({ exitCode: 64, hint: 'known instances: a' });
  });

  it('no file and no AUTO_INFER_LLAMA_CPP_CONFIG: exit 78 saying how to name one', async () => {
    const { o } = options(new FakeSupervisor(), {});
    await expect(checkAndRun(o)).rejects.toMatchObject({ code: 'E_NO_CONFIG', exitCode: 78 });
  });

  it('with a daemon running: the daemon loads the file, starts the named disabled instance, and the states are printed', async () => {
    const daemonSupervisor = new FakeSupervisor();
    daemon = await startDaemon({ env, paths: resolvePaths(env), log: silentLogger(), deps: fakeDeps(daemonSupervisor) });
    const file = await config({ instances: [{ name: 'a' }, { name: 'b', enabled: false }] });
    env.AUTO_INFER_LLAMA_CPP_CONFIG = file;
    const { o, stdout, stderr } = options(new FakeSupervisor(), { names: ['b'] });
    expect(await checkAndRun(o)).toBe(0);
    expect(stderr.text()).toContain(`daemon loaded ${file}: added 2`);
    expect(stdout.text()).toMatch(/^b\s+ready \(disabled\)/m);
    expect(daemonSupervisor.get('b')?.state).toBe('ready');
    expect(daemon.configFile()).toBe(file);
  });

  it('with a daemon serving another file: says that the file is replaced and names the instances it stopped', async () => {
    const daemonSupervisor = new FakeSupervisor();
    daemon = await startDaemon({ env, paths: resolvePaths(env), log: silentLogger(), deps: fakeDeps(daemonSupervisor) });
    const boot = path.join(root, 'boot.json');
    await fs.writeFile(boot, JSON.stringify({ instances: [{ name: 'prod' }, { name: 'embed' }] }));
    await daemon.reload(boot);
    const other = await config({ instances: [{ name: 'try' }] });
    const { o, stderr } = options(new FakeSupervisor(), { file: other });
    expect(await checkAndRun(o)).toBe(0);
    expect(stderr.text()).toContain(`the daemon was serving ${boot}; it now serves ${other}`);
    expect(stderr.text()).toContain(`stopped (not in ${other}): prod, embed`);
  });

  it('without a daemon: supervises only the chosen instances in the foreground until a stop signal', async () => {
    const supervisor = new FakeSupervisor();
    const signals = new FakeSignals();
    const file = await config({ instances: [{ name: 'a' }, { name: 'b' }] });
    const { o, stdout, stderr } = options(supervisor, { file, names: ['b'], signals });
    const exited = checkAndRun(o);
    await expect.poll(() => stdout.text()).toMatch(/^b\s+ready/m);
    expect(stderr.text()).toContain('supervising in the foreground');
    expect(supervisor.get('a')?.state).toBe('stopped');
    expect((await fs.stat(resolvePaths(env).socket)).isSocket()).toBe(true);
    signals.send('SIGINT');
    expect(await exited).toBe(0);
    expect(supervisor.stopAllCalls).toHaveLength(1);
  });
});
