/**
 * Config paths and socket paths an attacker (or a typo) can hand PID 1, through
 * the real CLI and a real daemon: a FIFO, a character device, a huge file,
 * bytes that are not UTF-8, a socket path over the kernel limit. Each gives a
 * one-line error with its exit code; the daemon keeps answering /healthz and
 * stops on SIGTERM with exit 0.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseEnv, cleanUpRoot, cli, exitWithin, makeRoot, type Running, startCli, waitFor } from '../unit/control/harness.js';

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-hostile-cfg-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

const socketOf = (r: string) => path.join(r, 'run', 'infer-entry.sock');

function getHealthz(socketPath: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/healthz', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('/healthz did not answer in time')));
    req.on('error', reject);
  });
}

const errorLine = (stderr: string): string => {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
};

describe('validate refuses a config path that is not a usable file, at once', () => {
  it('a FIFO nobody writes to: 66, not a hang', async () => {
    const fifo = path.join(root, 'config.toml');
    execFileSync('mkfifo', [fifo]);
    const r = await cli(['validate', fifo], baseEnv(root), 10_000);
    expect(r.code).toBe(66);
    expect(errorLine(r.stderr)).toMatch(/config\.toml is a FIFO \(named pipe\), not a regular file — .*\[E_CONFIG_NOT_FILE\]/);
  });

  it('/dev/zero: 66 naming a character device, not an endless read', async () => {
    const r = await cli(['validate', '/dev/zero'], baseEnv(root), 10_000);
    expect(r.code).toBe(66);
    expect(errorLine(r.stderr)).toContain('/dev/zero is a character device');
  });

  it('a file over 1 MiB: 78 saying it is too big', async () => {
    const big = path.join(root, 'big.toml');
    await fs.writeFile(big, `# ${'x'.repeat(1024 * 1024)}\n`);
    const r = await cli(['validate', big], baseEnv(root));
    expect(r.code).toBe(78);
    expect(errorLine(r.stderr)).toMatch(/big\.toml is over 1048576 bytes .*\[E_CONFIG_TOO_BIG\]/);
  });

  it('bytes that are not UTF-8: a syntax error with line and column, 78', async () => {
    const bad = path.join(root, 'latin1.toml');
    await fs.writeFile(bad, Buffer.concat([Buffer.from('[instance.a.server]\nalias = "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]));
    const r = await cli(['validate', '--no-fs-checks', bad], baseEnv(root));
    expect(r.code).toBe(78);
    expect(r.stdout).toContain(`${bad}:2:13: TOML syntax error: the file is not valid UTF-8 (bytes e9 22 0a)`);
  });
});

describe('a daemon handed a FIFO as its config keeps answering and stops on SIGTERM', () => {
  it('at boot, on reload and on SIGHUP', async () => {
    const fifo = path.join(root, 'instances.toml');
    execFileSync('mkfifo', [fifo]);
    const env = baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: fifo });
    const daemon = startCli(['boot'], env);
    running.push(daemon);
    await waitFor('the config error to be logged', () => daemon.logs().some((l) => String(l.msg).includes('is a FIFO')));
    expect(await getHealthz(socketOf(root))).toBe(200);

    const reload = await cli(['reload'], env, 10_000);
    expect(reload.code).toBe(66);
    expect(errorLine(reload.stderr)).toContain('is a FIFO (named pipe), not a regular file');
    expect(await getHealthz(socketOf(root))).toBe(200);

    daemon.child.kill('SIGHUP');
    await waitFor('the SIGHUP reload to fail', () => daemon.logs().filter((l) => String(l.msg).includes('is a FIFO')).length >= 2);
    expect(await getHealthz(socketOf(root))).toBe(200);
    expect((await cli(['health'], env)).code).toBe(1);

    daemon.child.kill('SIGTERM');
    expect(await exitWithin(daemon, 10_000)).toEqual({ code: 0, signal: null });
  });
});

describe('a control socket path over the kernel limit', () => {
  it('boot exits 73 naming the limit and creates nothing', async () => {
    const dir = path.join(root, 'd'.repeat(60), 'e'.repeat(60));
    const socket = path.join(dir, 'infer-entry.sock');
    const daemon = startCli(['boot'], baseEnv(path.join(root, 'r'), { INFER_ENTRY_SOCKET: socket }));
    running.push(daemon);
    expect((await exitWithin(daemon)).code).toBe(73);
    expect(errorLine(daemon.output())).toMatch(/is \d+ bytes, longer than the kernel's limit of 107 bytes for a Unix socket path — .*\[E_SOCKET_PATH_TOO_LONG\]/);
    expect((await fs.readdir(root)).sort()).toEqual([]);
  });

  it('a client command exits 73 with the same sentence, not "no daemon"', async () => {
    const socket = path.join(root, 'd'.repeat(60), 'e'.repeat(60), 'infer-entry.sock');
    const status = await cli(['status'], baseEnv(path.join(root, 'r'), { INFER_ENTRY_SOCKET: socket }));
    expect(status.code).toBe(73);
    expect(errorLine(status.stderr)).toMatch(/is \d+ bytes, longer than the kernel's limit of 107 bytes for a Unix socket path — .*\[E_SOCKET_PATH_TOO_LONG\]/);
  });
});
