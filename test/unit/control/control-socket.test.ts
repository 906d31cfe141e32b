import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/boot/daemon.js';
import { runCli } from '../../../src/cli/run-cli.js';
import { silentLogger } from '../../../src/log.js';
import { resolvePaths, type Paths } from '../../../src/paths.js';
import { FakeSupervisor, fakeDeps, sink } from '../../fixtures/daemon-fakes.js';

let root: string;
let paths: Paths;
let env: NodeJS.ProcessEnv;
let supervisor: FakeSupervisor;
let daemon: Daemon | undefined;

async function writeConfig(name: string, data: unknown): Promise<string> {
  const file = path.join(root, name);
  await fs.writeFile(file, JSON.stringify(data));
  return file;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(argv, { env, stdout, stderr, log: silentLogger() });
  return { code, out: stdout.text(), err: stderr.text() };
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-control-'));
  env = { INFER_ENTRY_ROOT: root, PATH: process.env.PATH };
  paths = resolvePaths(env);
  supervisor = new FakeSupervisor();
});

afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
  await fs.rm(root, { recursive: true, force: true });
});

function post(route: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: paths.socket, method: 'POST', path: route, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

async function start(): Promise<Daemon> {
  daemon = await startDaemon({ env, paths, log: silentLogger(), deps: fakeDeps(supervisor) });
  return daemon;
}

describe('control socket', () => {
  it('is a socket only its owner can use (mode 0600)', async () => {
    await start();
    const stat = await fs.stat(paths.socket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
  });

  it('replaces a stale socket left by a dead daemon', async () => {
    await fs.mkdir(paths.run, { recursive: true });
    // A daemon killed with SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(paths.socket)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect((await fs.lstat(paths.socket)).isSocket()).toBe(true);
    await start();
    expect((await cli('health')).code).toBe(0);
  });

  it('refuses to start a second daemon on a live socket', async () => {
    await start();
    await expect(startDaemon({ env, paths, log: silentLogger(), deps: fakeDeps(new FakeSupervisor()) })).rejects.toMatchObject({
      code: 'E_DAEMON_RUNNING',
      exitCode: 75,
    });
    expect((await cli('health')).code).toBe(0);
  });

  it('refuses a path that is not a socket', async () => {
    await fs.mkdir(paths.run, { recursive: true });
    await fs.writeFile(paths.socket, 'not a socket');
    await expect(start()).rejects.toMatchObject({ code: 'E_SOCKET_PATH', exitCode: 73 });
  });

  it('removes the socket when the daemon stops', async () => {
    const d = await start();
    await d.close();
    await expect(fs.stat(paths.socket)).rejects.toMatchObject({ code: 'ENOENT' });
    daemon = undefined;
  });
});

describe('CLI over the socket', () => {
  it('exits 69 from every client command when no daemon runs', async () => {
    for (const argv of [['status'], ['health'], ['logs', 'a'], ['start', 'a'], ['reload']]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(69);
      expect(r.err).toContain('E_NO_DAEMON');
    }
  });

  it('status shows a table and --json the full status, without secrets', async () => {
    const d = await start();
    const file = await writeConfig('c.json', {
      instances: [
        { name: 'alpha', port: 18081, args: ['--port', '18081', '--api-key', '[redacted]'], secrets: ['sk-very-secret'] },
        { name: 'beta', enabled: false, port: 18082 },
      ],
    });
    await d.reload(file);
    const table = await cli('status');
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^NAME\s+STATE\s+PID/m);
    expect(table.out).toMatch(/^alpha\s+ready\s+4242\s+127\.0\.0\.1:18081/m);
    expect(table.out).toMatch(/^beta\s+stopped \(disabled\)/m);
    const json = await cli('status', '--json');
    const parsed = JSON.parse(json.out) as { instances: { name: string; argv: string[] }[] };
    expect(parsed.instances.map((i) => i.name)).toEqual(['alpha', 'beta']);
    expect(json.out).not.toContain('sk-very-secret');
  });

  it('health: 0 when every enabled instance is ready, 1 otherwise', async () => {
    const d = await start();
    await d.reload(await writeConfig('c.json', { instances: [{ name: 'alpha' }, { name: 'off', enabled: false }] }));
    expect(await cli('health')).toMatchObject({ code: 0, out: 'ready\n' });
    await cli('stop', 'alpha');
    expect(await cli('health')).toMatchObject({ code: 1, out: 'not ready: alpha (stopped)\n' });
  });

  it('start / stop / restart change the instance and print it; an unknown name exits 64', async () => {
    const d = await start();
    await d.reload(await writeConfig('c.json', { instances: [{ name: 'alpha', enabled: false }] }));
    expect((await cli('start', 'alpha')).out).toMatch(/^alpha\s+ready/m);
    expect(supervisor.get('alpha')?.state).toBe('ready');
    expect((await cli('stop', 'alpha')).out).toMatch(/^alpha\s+stopped/m);
    const restarted = await cli('restart', 'alpha', '--json');
    expect(JSON.parse(restarted.out)).toMatchObject({ name: 'alpha', state: 'ready', restarts: 1 });
    const unknown = await cli('start', 'nope');
    expect(unknown.code).toBe(64);
    expect(unknown.err).toContain('nope');
  });

  it('logs prints the last N lines and -f streams new ones', async () => {
    const d = await start();
    await d.reload(await writeConfig('c.json', { instances: [{ name: 'alpha' }] }));
    for (let i = 1; i <= 5; i++) supervisor.emitLine('alpha', `line ${i}`);
    expect(await cli('logs', 'alpha', '-n', '2')).toMatchObject({ code: 0, out: 'line 4\nline 5\n' });

    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ socketPath: paths.socket, path: '/v1/instances/alpha/logs?n=1&follow=1' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          received.push(chunk);
          if (received.join('') === 'line 5\n') supervisor.emitLine('alpha', 'line 6');
          if (received.join('').includes('line 6\n')) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', reject);
    });
    expect(received.join('')).toBe('line 5\nline 6\n');
    // the follower is unsubscribed once the client goes away
    await expect.poll(() => supervisor.followers.get('alpha')?.size ?? 0).toBe(0);
  });

  it('logs -f ends with exit 69 when the daemon stops', async () => {
    const d = await start();
    await d.reload(await writeConfig('c.json', { instances: [{ name: 'alpha' }] }));
    supervisor.emitLine('alpha', 'before');
    const stdout = sink();
    const following = runCli(['logs', 'alpha', '-f'], { env, stdout, stderr: sink(), log: silentLogger() });
    await expect.poll(() => stdout.text()).toBe('before\n');
    await d.close();
    daemon = undefined;
    expect(await following).toBe(69);
  });

  it('logs -n rejects a non-number', async () => {
    await start();
    expect((await cli('logs', 'alpha', '-n', 'ten')).code).toBe(64);
  });
});

describe('reload', () => {
  it('applies added / removed / changed and leaves unchanged instances alone', async () => {
    const d = await start();
    const file = await writeConfig('c.json', { instances: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    await d.reload(file);
    await writeConfig('c.json', { instances: [{ name: 'a' }, { name: 'b', fingerprint: 'b-2' }, { name: 'd' }] });
    const r = await cli('reload');
    expect(r.code).toBe(0);
    expect(r.out).toContain('added:     d');
    expect(r.out).toContain('removed:   c');
    expect(r.out).toContain('changed:   b');
    expect(r.out).toContain('unchanged: a');
  });

  it('an invalid file changes nothing, prints every problem and exits 78', async () => {
    const d = await start();
    const file = await writeConfig('c.json', { instances: [{ name: 'a' }] });
    await d.reload(file);
    await writeConfig('c.json', { invalid: ['port must be a number', 'unknown key "modle"'] });
    const r = await cli('reload');
    expect(r.code).toBe(78);
    // The problems cross the socket typed and are formatted by the client, one line each.
    expect(r.err).toContain(`${file}:1:1 instance.x: port must be a number\n`);
    expect(r.err).toContain(`${file}:2:1 instance.x: unknown key "modle"\n`);
    expect(r.err).toContain('E_CONFIG_INVALID');
    expect(supervisor.reloads).toHaveLength(1);
    expect(supervisor.list().map((s) => s.name)).toEqual(['a']);
  });

  it('the error answer carries the file and each problem as validate --json prints it', async () => {
    const d = await start();
    const file = await writeConfig('c.json', { invalid: ['port must be a number'] });
    const answer = await post('/v1/reload', JSON.stringify({ file }));
    expect(answer.status).toBe(422);
    expect(JSON.parse(answer.body).error).toMatchObject({
      code: 'E_CONFIG_INVALID',
      file,
      problems: [{ file, line: 1, column: 1, key: 'instance.x', path: ['instance', 'x'], message: 'port must be a number', kind: 'schema', subject: 'setting' }],
    });
    expect(d.configFile()).toBeNull();
  });

  it('request bodies are validated: a wrong field is a 400 naming it, and nothing is reloaded', async () => {
    await start();
    const cases: [string, string, RegExp][] = [
      ['/v1/reload', JSON.stringify({ file: 'relative.toml' }), /reload: "file" must be an absolute path \(got "relative.toml"\)/],
      ['/v1/reload', JSON.stringify({ file: 42 }), /reload: "file" .*\(got 42\)/],
      ['/v1/reload', '[1]', /reload: the body /],
      ['/v1/reload', '{not json', /request body is not valid JSON/],
      ['/v1/wait', JSON.stringify({ names: 'a' }), /wait: "names" must be a list of instance names/],
      ['/v1/wait', JSON.stringify({ names: ['a'], timeoutMs: 'soon' }), /wait: "timeoutMs" must be a number of milliseconds \(got "soon"\)/],
    ];
    for (const [route, body, message] of cases) {
      const answer = await post(route, body);
      expect(answer.status, `${route} ${body}`).toBe(400);
      expect(JSON.parse(answer.body).error.message).toMatch(message);
    }
    expect(supervisor.reloads).toHaveLength(0);
  });

  it('without any config file says how to name one', async () => {
    await start();
    const r = await cli('reload');
    expect(r.code).toBe(78);
    expect(r.err).toContain('AUTO_INFER_LLAMA_CPP_CONFIG');
  });

  it('--config switches to another file', async () => {
    await start();
    const file = await writeConfig('other.json', { instances: [{ name: 'z' }] });
    const r = await cli('reload', '--config', file);
    expect(r.code).toBe(0);
    expect(supervisor.get('z')?.state).toBe('ready');
  });
});
