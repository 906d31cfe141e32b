/**
 * The compose habit `LLAMA_ARG_HOST` / `LLAMA_ARG_PORT` in the container's environment, against a
 * real `infer-entry boot` and the fake llama-server (which, like the real one, reads them when the
 * flags are absent): the server listens where the variables say, the supervisor probes there, and
 * a config that disagrees wins with one warning. Loopback addresses only (127.0.0.0/8).
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseEnv, cleanUpRoot, cli, exitWithin, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-llama-arg-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

/** A one-instance config; `host`/`port` lines only where given. */
async function config(server: { host?: string; port?: number; extra?: string[] }): Promise<string> {
  const file = await writeConfig(root, [{ name: 'a', port: 1, server: server.extra }]);
  let text = (await fs.readFile(file, 'utf8')).replace(/^host = .*\n/m, '').replace(/^port = 1\n/m, '');
  if (server.host !== undefined) text = text.replace('[instance.a.server]\n', `[instance.a.server]\nhost = ${JSON.stringify(server.host)}\n`);
  if (server.port !== undefined) text = text.replace('[instance.a.server]\n', `[instance.a.server]\nport = ${server.port}\n`);
  await fs.writeFile(file, text);
  return file;
}

function boot(file: string, extra: NodeJS.ProcessEnv): Running {
  const r = startCli(['boot'], baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: file, ...extra }));
  running.push(r);
  return r;
}

async function ready(r: Running): Promise<void> {
  await waitFor('the instance ready', () => r.output().includes('"to":"ready"'), 20_000);
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stop(r: Running): Promise<void> {
  r.child.kill('SIGTERM');
  expect((await exitWithin(r)).code).toBe(0);
}

describe('LLAMA_ARG_HOST / LLAMA_ARG_PORT from the container environment', () => {
  it('a config without host/port: the server listens where the variables say, and is probed there', async () => {
    const port = await freePort();
    const daemon = boot(await config({}), { LLAMA_ARG_HOST: '127.0.0.3', LLAMA_ARG_PORT: String(port) });
    await ready(daemon);
    expect((await fetch(`http://127.0.0.3:${port}/health`)).status).toBe(200);
    expect(await listening('127.0.0.1', port)).toBe(false);
    expect(await listening('127.0.0.1', 8080)).toBe(false);
    const status = JSON.parse((await cli(['status', '--json'], baseEnv(root))).stdout).instances[0];
    expect(status).toMatchObject({ name: 'a', state: 'ready' });
    expect(status.argv.slice(-4)).toEqual(['--host', '127.0.0.3', '--port', String(port)]);
    expect(daemon.logs().filter((l) => l.level === 40 && String(l.msg).includes('LLAMA_ARG_'))).toEqual([]);
    await stop(daemon);
  });

  it('the config sets the port too: the config wins, and one warning names both values', async () => {
    const [mine, theirs] = [await freePort(), await freePort()];
    const daemon = boot(await config({ port: mine }), { LLAMA_ARG_PORT: String(theirs) });
    await ready(daemon);
    expect((await fetch(`http://127.0.0.1:${mine}/health`)).status).toBe(200);
    expect(await listening('127.0.0.1', theirs)).toBe(false);
    const warnings = daemon.logs().filter((l) => l.level === 40 && String(l.msg).includes('LLAMA_ARG_PORT'));
    expect(warnings, daemon.output()).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(`port = ${mine}`);
    expect(warnings[0]!.msg).toContain(`LLAMA_ARG_PORT=${theirs}`);
    await stop(daemon);
  });

  it('other LLAMA_ARG_* variables reach llama-server untouched and add no flag', async () => {
    const port = await freePort();
    const daemon = boot(await config({ port }), { LLAMA_ARG_CTX_SIZE: '4096', FAKE_PRINT_ENV: 'LLAMA_ARG_CTX_SIZE' });
    await ready(daemon);
    expect(daemon.output()).toContain('env LLAMA_ARG_CTX_SIZE=4096');
    const status = JSON.parse((await cli(['status', '--json'], baseEnv(root))).stdout).instances[0];
    expect(status.argv.join(' ')).not.toContain('ctx');
    await stop(daemon);
  });

  it("the instance's env table: its LLAMA_ARG_PORT beats the container's, and its variables reach that server", async () => {
    const [own, container] = [await freePort(), await freePort()];
    const file = await config({});
    await fs.appendFile(file, `\n[instance.a.env]\nLLAMA_ARG_PORT = ${own}\nGGML_FROM_TABLE = "yes"\n`);
    const daemon = boot(file, { LLAMA_ARG_PORT: String(container), FAKE_PRINT_ENV: 'GGML_FROM_TABLE' });
    await ready(daemon);
    expect((await fetch(`http://127.0.0.1:${own}/health`)).status).toBe(200);
    expect(await listening('127.0.0.1', container)).toBe(false);
    expect(daemon.output()).toContain('env GGML_FROM_TABLE=yes');
    await stop(daemon);
  });

  it('validate --print-commands shows the effective values and where each came from', async () => {
    const port = await freePort();
    const file = await config({ port });
    const r = await cli(['validate', '--print-commands', file], baseEnv(root, { LLAMA_ARG_HOST: '127.0.0.3', LLAMA_ARG_PORT: '9999' }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`#   host 127.0.0.3 from LLAMA_ARG_HOST; port ${port} from the config (LLAMA_ARG_PORT=9999 ignored)`);
    const command = r.stdout.split('\n').find((l) => l.includes('llama-server '))!;
    expect(command).toContain(` --port ${port} `);
    expect(command.endsWith(' --host 127.0.0.3')).toBe(true);
    expect(r.stderr).toContain('LLAMA_ARG_PORT=9999');
  });
});
