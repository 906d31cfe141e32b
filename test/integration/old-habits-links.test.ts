/**
 * The old image's habit `…/llama-cpp/check-and-run-llama-cpp.sh` works on every boot, installed or
 * not: real `infer-entry boot` daemons in a temp root without the image's shims directory, the link
 * run as users run it (a process exec'ing the path), instances served by the fake llama-server.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OWN_SHIM_MARKER } from '../../src/installer/own-shims.js';
import { layoutEntries, writeArchive } from '../fixtures/installer/archive-builder.js';
import { baseEnv, cleanUpRoot, cli, exitWithin, FAKE_SERVER, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

const LINKS = ['check-and-run-llama-cpp.sh', 'install-llama-cpp-pkg.sh', 'get-llama-cpp-pkg.sh'];

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-habits-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

const socket = () => path.join(root, 'run/infer-entry.sock');

async function bootDaemon(extra: NodeJS.ProcessEnv = {}): Promise<Running> {
  const r = startCli(['boot'], baseEnv(root, extra));
  running.push(r);
  // the links step runs before the config step; its log line says the boot got past it
  await waitFor('the boot to get past its install step', () => r.logs().some((l) => l.step === 'config'), 15_000);
  return r;
}

/** Run a file the way `docker exec CTR FILE ARGS` does: exec it, no shell. */
function execFile(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function stop(r: Running): Promise<void> {
  r.child.kill('SIGTERM');
  expect((await exitWithin(r)).code).toBe(0);
}

describe('the convenience links on boot, with nothing installed', () => {
  it('exist and resolve in a root without a shims directory; check-and-run through the link starts a llama_cpp_path instance', async () => {
    const port = await freePort();
    const config = await writeConfig(root, [{ name: 'a', port }]);
    await expect(fs.stat(path.join(root, 'shims'))).rejects.toMatchObject({ code: 'ENOENT' });
    const daemon = await bootDaemon();
    for (const link of LINKS) expect((await fs.stat(path.join(root, 'llama-cpp', link))).isFile(), link).toBe(true);
    expect(await fs.readFile(path.join(root, 'shims/check-and-run-llama-cpp.sh'), 'utf8')).toContain(OWN_SHIM_MARKER);

    const run = await execFile(path.join(root, 'llama-cpp/check-and-run-llama-cpp.sh'), [], baseEnv(root, { AUTO_INFER_LLAMA_CPP_CONFIG: config }));
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/^a\s+ready/m);
    const status = await cli(['status', '--json'], baseEnv(root));
    expect(JSON.parse(status.stdout).instances[0]).toMatchObject({ name: 'a', state: 'ready' });
    // no config named: the old script's note and exit 0, now through the link too
    const none = await execFile(path.join(root, 'llama-cpp/check-and-run-llama-cpp.sh'), [], baseEnv(root));
    expect(none).toMatchObject({ code: 0 });
    expect(none.output).toContain('AUTO_INFER_LLAMA_CPP_CONFIG is not set');
    await stop(daemon);
  });

  it('with llama-server on PATH (the config names no path), check-and-run through the link starts it', async () => {
    const bin = path.join(root, 'path-bin');
    await fs.mkdir(bin);
    await fs.writeFile(path.join(bin, 'llama-server'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FAKE_SERVER)} "$@"\n`, { mode: 0o755 });
    const port = await freePort();
    const config = await writeConfig(root, [{ name: 'onpath', port }]);
    await fs.writeFile(config, (await fs.readFile(config, 'utf8')).replace(/^llama_cpp_path = .*$/m, ''));
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const daemon = await bootDaemon(env);
    const run = await execFile(path.join(root, 'llama-cpp/check-and-run-llama-cpp.sh'), ['--config', config], baseEnv(root, env));
    expect(run.code, run.output).toBe(0);
    const status = JSON.parse((await cli(['status', '--json'], baseEnv(root))).stdout);
    expect(status.instances[0]).toMatchObject({ name: 'onpath', state: 'ready' });
    expect(status.instances[0].argv[0]).toBe(path.join(bin, 'llama-server'));
    await stop(daemon);
  });

  it('an install through the link later replaces the links-only tree atomically, and rollback does not go back to it', async () => {
    const daemon = await bootDaemon();
    expect(await fs.readlink(path.join(root, 'llama-cpp'))).toBe('.llama-cpp-releases/links-only');
    await stop(daemon);

    const pkg = await writeArchive(path.join(root, 'llama.tar.gz'), 'tar.gz', layoutEntries('documented'));
    const install = await execFile(path.join(root, 'llama-cpp/install-llama-cpp-pkg.sh'), [pkg], baseEnv(root));
    expect(install.code, install.output).toBe(0);
    const target = await fs.readlink(path.join(root, 'llama-cpp'));
    expect(target).toMatch(/^\.llama-cpp-releases\/[0-9a-f]{16}$/);
    expect((await fs.stat(path.join(root, 'llama-cpp/bin/llama-server'))).isFile()).toBe(true);
    for (const link of LINKS) expect((await fs.stat(path.join(root, 'llama-cpp', link))).isFile(), link).toBe(true);
    await expect(fs.stat(path.join(root, '.llama-cpp-releases/links-only'))).rejects.toMatchObject({ code: 'ENOENT' });
    const back = await cli(['rollback'], baseEnv(root));
    expect(back.code, back.stderr).toBe(66);
    expect(back.stderr).toContain('E_NO_PREVIOUS');

    // a second boot leaves the real install alone, and puts back a link someone deleted from it
    await fs.rm(path.join(root, 'llama-cpp/check-and-run-llama-cpp.sh'));
    const again = await bootDaemon();
    expect(await fs.readlink(path.join(root, 'llama-cpp'))).toBe(target);
    expect((await fs.stat(path.join(root, 'llama-cpp/check-and-run-llama-cpp.sh'))).isFile()).toBe(true);
    await stop(again);
  });
});

describe('the convenience links on boot, with something there already', () => {
  it('adds missing links to an old-style real directory, replacing one that dangles', async () => {
    const legacy = path.join(root, 'llama-cpp');
    await fs.mkdir(path.join(legacy, 'bin'), { recursive: true });
    await fs.writeFile(path.join(legacy, 'bin/llama-server'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    // a link the old script left to a file that no longer exists counts as missing
    await fs.symlink('/nonexistent/check-and-run-llama-cpp.sh', path.join(legacy, 'check-and-run-llama-cpp.sh'));
    await stop(await bootDaemon());
    expect((await fs.lstat(legacy)).isDirectory()).toBe(true);
    for (const link of LINKS) expect((await fs.stat(path.join(legacy, link))).isFile(), link).toBe(true);
    expect((await fs.stat(path.join(legacy, 'bin/llama-server'))).isFile()).toBe(true);
  });

  it('keeps shims the image provides, and rewrites one it wrote itself for an infer-entry that moved', async () => {
    const shims = path.join(root, 'shims');
    await fs.mkdir(shims);
    const image = '#!/bin/sh\n# the image\'s own\nexec infer-entry check-and-run "$@"\n';
    await fs.writeFile(path.join(shims, 'check-and-run-llama-cpp.sh'), image, { mode: 0o755 });
    const stale = `#!/bin/sh\n${OWN_SHIM_MARKER}\nexec /old/node /old/main.js install "$@"\n`;
    await fs.writeFile(path.join(shims, 'install-llama-cpp-pkg.sh'), stale, { mode: 0o755 });
    await stop(await bootDaemon());
    expect(await fs.readFile(path.join(shims, 'check-and-run-llama-cpp.sh'), 'utf8')).toBe(image);
    const rewritten = await fs.readFile(path.join(shims, 'install-llama-cpp-pkg.sh'), 'utf8');
    expect(rewritten).not.toContain('/old/main.js');
    // the rewritten shim runs this infer-entry: no archive named is its usage error (64)
    const run = await execFile(path.join(root, 'llama-cpp/get-llama-cpp-pkg.sh'), [], baseEnv(root));
    expect(run.code, run.output).toBe(64);
  });

  it('a shims directory that cannot be written: a warning, and no link that would dangle', async () => {
    await fs.writeFile(path.join(root, 'not-a-dir'), '');
    const daemon = await bootDaemon({ INFER_ENTRY_SHIMS_DIR: path.join(root, 'not-a-dir/shims') });
    const warning = daemon.logs().find((l) => l.level === 40 && String(l.msg).includes('cannot write the shims'));
    expect(warning, daemon.output()).toBeDefined();
    await expect(fs.lstat(path.join(root, 'llama-cpp'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await cli(['health'], baseEnv(root))).code).toBe(0);
    await stop(daemon);
  });
});
