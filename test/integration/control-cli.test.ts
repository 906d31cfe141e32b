/**
 * The control plane end to end: a real `boot` daemon supervising fake llama-servers, driven through
 * the CLI in child processes, as a user would from `docker exec`. Each test boots its own daemon
 * (alpha ready, beta disabled), so none depends on what another left behind.
 */
import fs from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  alive,
  baseEnv,
  cli,
  exitWithin,
  fakePids,
  freePort,
  killAll,
  makeRoot,
  startCli,
  waitFor,
  writeConfig,
  type FakeInstance,
  type Running,
} from '../unit/control/harness.js';

const SECRET = 'sk-integration-secret-4711';
let root: string;
let env: NodeJS.ProcessEnv;
let daemon: Running;
let file: string;
let ports: number[] = [];

function instances(list: FakeInstance[]): Promise<string> {
  return writeConfig(root, list);
}

beforeEach(async () => {
  root = await makeRoot('ie-control-cli-');
  ports = [];
  for (let i = 0; i < 3; i++) ports.push(await freePort());
  file = await instances([
    { name: 'alpha', port: ports[0]!, server: [`api_key = "${SECRET}"`, 'fake_print_env = "LLAMA_API_KEY"'] },
    { name: 'beta', port: ports[1]!, enabled: false },
  ]);
  env = baseEnv(root);
  daemon = startCli(['boot'], { ...env, AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: file });
  await waitFor('alpha ready', async () => (await cli(['health', '-q'], env)).code === 0 && daemon.output().includes('"to":"ready"'), 20_000);
});

afterEach(async () => {
  if (daemon && alive(daemon.child.pid!)) daemon.child.kill('SIGKILL');
  await killAll((await fakePids(root)).filter(alive));
  await fs.rm(root, { recursive: true, force: true });
});

describe('CLI against a running daemon', () => {
  it('the control socket is owner-only', async () => {
    expect((await fs.stat(`${root}/run/infer-entry.sock`)).mode & 0o777).toBe(0o600);
  });

  it('status shows every instance; secrets appear nowhere (status, --json, logs, daemon log)', async () => {
    const table = await cli(['status'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^alpha\\s+ready\\s+\\d+\\s+127\\.0\\.0\\.1:${ports[0]}`, 'm'));
    expect(table.stdout).toMatch(/^beta\s+stopped \(disabled\)/m);
    const json = await cli(['status', '--json'], env);
    const alpha = (JSON.parse(json.stdout) as { instances: { name: string; state: string; argv: string[] }[] }).instances.find((i) => i.name === 'alpha');
    expect(alpha?.state).toBe('ready');
    const logs = await cli(['logs', 'alpha', '-n', '50'], env);
    expect(logs.stdout).toContain('env LLAMA_API_KEY=');
    for (const text of [table.stdout, json.stdout, logs.stdout, daemon.output()]) expect(text).not.toContain(SECRET);
  });

  it('logs -f streams until interrupted', async () => {
    const follow = startCli(['logs', 'alpha', '-n', '0', '-f'], env);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await cli(['restart', 'alpha', '--wait'], env)).code).toBe(0);
    await waitFor('new output in logs -f', () => follow.output().includes('system info'));
    follow.child.kill('SIGINT');
    expect((await exitWithin(follow, 5000)).code).toBe(0);
  });

  it('stop makes health fail; start --wait brings it back; restart gives a new process', async () => {
    const stop = await cli(['stop', 'alpha'], env);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/^alpha\s+stopped/m);
    const unhealthy = await cli(['health'], env);
    expect(unhealthy).toMatchObject({ code: 1, stdout: 'not ready: alpha (stopped)\n' });
    expect((await cli(['start', 'alpha', '--wait'], env)).stdout).toMatch(/^alpha\s+ready/m);
    expect((await cli(['health'], env)).code).toBe(0);
    const before = JSON.parse((await cli(['status', '--json'], env)).stdout).instances[0].pid as number;
    const restarted = await cli(['restart', 'alpha', '--wait', '--json'], env);
    expect(JSON.parse(restarted.stdout)).toMatchObject({ name: 'alpha', state: 'ready' });
    expect(JSON.parse(restarted.stdout).pid).not.toBe(before);
    expect(alive(before)).toBe(false);
    const unknown = await cli(['start', 'nope'], env);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('nope');
  });

  it('reload: added start, removed stop, changed restart, unchanged keep their process', async () => {
    const statusOf = async () => JSON.parse((await cli(['status', '--json'], env)).stdout).instances as { name: string; pid: number | null; state: string }[];
    const alphaPid = (await statusOf()).find((i) => i.name === 'alpha')!.pid;
    await instances([
      { name: 'alpha', port: ports[0]!, server: [`api_key = "${SECRET}"`, 'fake_print_env = "LLAMA_API_KEY"'] },
      { name: 'beta', port: ports[1]!, enabled: true },
      { name: 'gamma', port: ports[2]! },
    ]);
    const r = await cli(['reload'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('added:     gamma');
    expect(r.stdout).toContain('unchanged: alpha');
    await waitFor('gamma and beta ready', async () => (await cli(['health', '-q'], env)).code === 0, 15_000);
    expect((await statusOf()).find((i) => i.name === 'alpha')!.pid).toBe(alphaPid);

    await instances([
      { name: 'alpha', port: ports[0]!, server: [`api_key = "${SECRET}"`, 'fake_print_env = "LLAMA_API_KEY"', 'fake_load_ms = 100'] },
      { name: 'beta', port: ports[1]!, enabled: true },
    ]);
    const gammaPid = (await statusOf()).find((i) => i.name === 'gamma')!.pid!;
    const r2 = await cli(['reload'], env);
    expect(r2.stdout).toContain('removed:   gamma');
    expect(r2.stdout).toContain('changed:   alpha');
    await waitFor('gamma gone', () => !alive(gammaPid));
    await waitFor('alpha ready again', async () => (await statusOf()).find((i) => i.name === 'alpha')?.state === 'ready', 15_000);
    expect((await statusOf()).find((i) => i.name === 'alpha')!.pid).not.toBe(alphaPid);
  });

  it('reload of an invalid file changes nothing and prints the problem (exit 78)', async () => {
    const before = (await cli(['status'], env)).stdout;
    await fs.writeFile(file, '[instance.alpha.server]\nport = "not a port"\n');
    const r = await cli(['reload'], env);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('port');
    expect(r.stderr).toContain('E_CONFIG_INVALID');
    const after = (await cli(['status'], env)).stdout;
    expect(after.replace(/\d+[smhd]\S*/g, '')).toBe(before.replace(/\d+[smhd]\S*/g, ''));
  });

  it('SIGTERM stops every instance and the daemon exits 0 leaving no child behind', async () => {
    const pids = await fakePids(root);
    expect(pids.length).toBeGreaterThan(0);
    daemon.child.kill('SIGTERM');
    expect((await exitWithin(daemon, 20_000)).code).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    expect((await cli(['status'], env)).code).toBe(69);
  });
});
