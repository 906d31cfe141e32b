import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBoot } from '../../../src/boot/boot.js';
import type { Daemon, DaemonDeps } from '../../../src/boot/daemon.js';
import { runDaemon, type RunDaemonOptions } from '../../../src/boot/run-daemon.js';
import { ConfigError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { resolvePaths } from '../../../src/paths.js';
import { FakeSignals, FakeSupervisor, fakeDeps, sink } from '../../fixtures/daemon-fakes.js';

let root: string;
let env: NodeJS.ProcessEnv;
let supervisor: FakeSupervisor;
let signals: FakeSignals;
let logs: ReturnType<typeof sink>;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-run-daemon-'));
  env = { INFER_ENTRY_ROOT: root, PATH: process.env.PATH };
  supervisor = new FakeSupervisor();
  signals = new FakeSignals();
  logs = sink();
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function logLines(): { level: number; msg: string; [k: string]: unknown }[] {
  return logs
    .text()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Start runDaemon; resolves `up` once the control socket is listening. */
function run(options: Partial<RunDaemonOptions> & { deps?: DaemonDeps } = {}) {
  let markUp!: (d: Daemon) => void;
  const up = new Promise<Daemon>((resolve) => (markUp = resolve));
  const exited = runDaemon({
    env,
    paths: resolvePaths(env),
    log: createLogger({ destination: logs, pretty: false, level: 'debug' }),
    deps: fakeDeps(supervisor),
    cmd: [],
    signals,
    onStarted: markUp,
    ...options,
  });
  return { up, exited };
}

function readyz(): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: resolvePaths(env).socket, path: '/readyz' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** runBoot without a CMD; resolves `up` once the control socket is listening. */
function boot(deps: DaemonDeps) {
  let markUp!: (d: Daemon) => void;
  const up = new Promise<Daemon>((resolve) => (markUp = resolve));
  const exited = runBoot({ env, paths: resolvePaths(env), log: createLogger({ destination: logs, pretty: false }), deps, cmd: [], signals, onStarted: markUp });
  return { up, exited };
}

async function waitForFile(file: string): Promise<void> {
  await expect.poll(() => fs.stat(file).then(() => true, () => false), { timeout: 5000 }).toBe(true);
}

describe('daemon without CMD', () => {
  it('SIGTERM stops the instances gracefully and exits 0', async () => {
    const { up, exited } = run();
    await up;
    signals.send('SIGTERM');
    expect(await exited).toBe(0);
    expect(supervisor.stopAllCalls).toEqual([{}]);
    await expect(fs.stat(resolvePaths(env).socket)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });

  it('a SIGTERM that arrives while the daemon is still starting (no socket yet) stops it cleanly', async () => {
    const { up, exited } = run();
    signals.send('SIGTERM');
    await up;
    expect(await exited).toBe(0);
  });

  it('a second SIGINT kills at once and exits 130', async () => {
    let release!: () => void;
    supervisor.stopAllGate = new Promise<void>((resolve) => (release = resolve));
    const { up, exited } = run();
    await up;
    signals.send('SIGINT');
    signals.send('SIGINT');
    expect(supervisor.stopAllCalls).toContainEqual({ immediate: true });
    release();
    expect(await exited).toBe(130);
  });

  it('SIGHUP reloads the config file; a bad one is logged and changes nothing', async () => {
    const file = path.join(root, 'c.json');
    await fs.writeFile(file, JSON.stringify({ instances: [{ name: 'a' }] }));
    env.AUTO_INFER_LLAMA_CPP_CONFIG = file;
    const { up, exited } = run();
    await up;
    signals.send('SIGHUP');
    await expect.poll(() => supervisor.reloads.length).toBe(1);
    await fs.writeFile(file, JSON.stringify({ invalid: ['bad port'] }));
    signals.send('SIGHUP');
    await expect.poll(() => logLines().some((l) => l.msg.includes('bad port'))).toBe(true);
    expect(supervisor.reloads).toHaveLength(1);
    signals.send('SIGUSR1'); // no CMD: ignored, the daemon stays up
    signals.send('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('daemon with CMD', () => {
  it('exits with the status of the CMD and stops the instances', async () => {
    const { exited } = run({ cmd: ['sh', '-c', 'exit 3'] });
    expect(await exited).toBe(3);
    expect(supervisor.stopAllCalls.length).toBeGreaterThan(0);
  });

  it('forwards SIGTERM to the CMD and reports 128+15 when it dies of it', async () => {
    const { up, exited } = run({ cmd: ['sleep', '30'] });
    await up;
    await expect.poll(() => logLines().some((l) => l.msg === 'command started')).toBe(true);
    signals.send('SIGTERM');
    expect(await exited).toBe(143);
  });

  it('forwards SIGUSR1/SIGUSR2 and SIGTERM; SIGINT/SIGQUIT from a terminal are left to the CMD', async () => {
    const ready = path.join(root, 'ready');
    const script = `trap 'echo usr1 >> ${root}/got' USR1; trap 'echo usr2 >> ${root}/got' USR2; trap 'echo int >> ${root}/got' INT; trap 'echo quit >> ${root}/got' QUIT; trap 'exit 9' TERM; touch ${ready}; while :; do sleep 0.02; done`;
    const { exited } = run({ cmd: ['sh', '-c', script], stdinIsTTY: true });
    await waitForFile(ready);
    signals.send('SIGUSR1');
    signals.send('SIGINT');
    await expect.poll(() => fs.readFile(path.join(root, 'got'), 'utf8').catch(() => '')).toContain('usr1');
    signals.send('SIGUSR2');
    await expect.poll(() => fs.readFile(path.join(root, 'got'), 'utf8').catch(() => '')).toContain('usr2');
    signals.send('SIGQUIT');
    signals.send('SIGTERM');
    expect(await exited).toBe(9);
    expect(await fs.readFile(path.join(root, 'got'), 'utf8')).toBe('usr1\nusr2\n');
  });

  it('SIGKILLs a CMD that ignores SIGTERM after the grace period', async () => {
    const ready = path.join(root, 'ready');
    const { exited } = run({ cmd: ['sh', '-c', `trap '' TERM; touch ${ready}; while :; do sleep 0.02; done`], cmdStopGraceMs: 200 });
    await waitForFile(ready);
    signals.send('SIGTERM');
    expect(await exited).toBe(137);
  });

  it('exits 127 when the CMD does not exist', async () => {
    const { exited } = run({ cmd: ['/nonexistent/command'] });
    expect(await exited).toBe(127);
    expect(logLines().some((l) => l.level === 50 && l.msg.includes('/nonexistent/command'))).toBe(true);
  });
});

describe('boot steps', () => {
  it('an install failure is logged loudly with its code and hint, and boot goes on', async () => {
    const deps = fakeDeps(supervisor, {
      installOnBoot: async () => {
        throw new ConfigError('E_PKG_NOT_FOUND', 'package /x.tar.gz not found', { hint: 'mount it' });
      },
    });
    const exited = runBoot({ env, paths: resolvePaths(env), log: createLogger({ destination: logs, pretty: false }), deps, cmd: ['true'], signals });
    expect(await exited).toBe(0);
    const failure = logLines().find((l) => l.level === 50);
    expect(failure).toMatchObject({ code: 'E_PKG_NOT_FOUND', hint: 'mount it', step: 'install' });
    expect(failure?.msg).toContain('continuing WITHOUT a llama.cpp install');
  });

  it('with a CMD on a terminal, instance output goes to the log at debug (not into the user\'s shell); otherwise info', async () => {
    const levels: (string | undefined)[] = [];
    const deps = fakeDeps(supervisor);
    const recording = { ...deps, createSupervisor: (options: Parameters<DaemonDeps['createSupervisor']>[0]) => (levels.push(options.outputLevel), deps.createSupervisor(options)) };
    const log = createLogger({ destination: logs, pretty: false });
    expect(await runBoot({ env, paths: resolvePaths(env), log, deps: recording, cmd: ['true'], signals, stdinIsTTY: true })).toBe(0);
    expect(await runBoot({ env, paths: resolvePaths(env), log, deps: recording, cmd: ['true'], signals, stdinIsTTY: false })).toBe(0);
    expect(levels).toEqual(['debug', 'info']);
  });

  it('is not ready while the install step runs', async () => {
    let release!: () => void;
    const installing = new Promise<null>((resolve) => (release = () => resolve(null)));
    const { up, exited } = boot(fakeDeps(supervisor, { installOnBoot: () => installing }));
    await up;
    expect(await readyz()).toEqual({ status: 503, body: '{"ready":false,"starting":"boot in progress: installing llama.cpp","notReady":[]}\n' });
    release();
    await expect.poll(async () => (await readyz()).status).toBe(200);
    signals.send('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('starts instances only with AUTO_INFER_LLAMA_CPP_ON_BOOT on AND a config file', async () => {
    const file = path.join(root, 'c.json');
    await fs.writeFile(file, JSON.stringify({ instances: [{ name: 'a' }] }));
    const bootWith = async (extra: NodeJS.ProcessEnv) => {
      const e = { ...env, ...extra };
      return runBoot({ env: e, paths: resolvePaths(e), log: createLogger({ destination: logs, pretty: false }), deps: fakeDeps(supervisor), cmd: ['true'], signals });
    };
    await bootWith({ AUTO_INFER_LLAMA_CPP_CONFIG: file });
    await bootWith({ AUTO_INFER_LLAMA_CPP_ON_BOOT: 'ture', AUTO_INFER_LLAMA_CPP_CONFIG: file });
    await bootWith({ AUTO_INFER_LLAMA_CPP_ON_BOOT: '1' });
    expect(supervisor.reloads).toHaveLength(0);
    expect(logLines().some((l) => l.level === 40 && l.msg.includes('"ture"'))).toBe(true);
    expect(logLines().some((l) => l.msg.includes('alone never starts anything'))).toBe(true);
    await bootWith({ AUTO_INFER_LLAMA_CPP_ON_BOOT: 'TRUE', AUTO_INFER_LLAMA_CPP_CONFIG: file });
    expect(supervisor.reloads).toHaveLength(1);
  });

  it('an invalid config at boot logs every problem and keeps the daemon up for a fix + reload', async () => {
    const file = path.join(root, 'c.json');
    await fs.writeFile(file, JSON.stringify({ invalid: ['first problem', 'second problem'] }));
    env.AUTO_INFER_LLAMA_CPP_ON_BOOT = '1';
    env.AUTO_INFER_LLAMA_CPP_CONFIG = file;
    const { up, exited } = boot(fakeDeps(supervisor));
    const daemon = await up;
    await expect.poll(() => logLines().filter((l) => l.level === 50 && /first problem|second problem/.test(l.msg)).length).toBe(2);
    // A container asked to serve a config it cannot load is not healthy, even with no instance to wait for.
    await expect.poll(async () => (await readyz()).body).toContain('could not be loaded');
    expect((await readyz()).status).toBe(503);
    await fs.writeFile(file, JSON.stringify({ instances: [{ name: 'a' }] }));
    await daemon.reload();
    expect(supervisor.get('a')?.state).toBe('ready');
    expect((await readyz()).status).toBe(200);
    signals.send('SIGTERM');
    expect(await exited).toBe(0);
  });
});
