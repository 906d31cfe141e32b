/**
 * The daemon loads its config in a short-lived child process (src/config/load-in-child.ts): after
 * the boot load and after a reload, no loader process is left behind.
 */
import fs from 'node:fs/promises';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { baseEnv, cleanUpRoot, cli, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-loader-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

/** The daemon's child processes running the config loader. */
async function loaders(daemonPid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const [stat, cmdline] = await Promise.all([fs.readFile(`/proc/${entry}/stat`, 'utf8'), fs.readFile(`/proc/${entry}/cmdline`, 'utf8')]).catch(() => ['', '']);
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === daemonPid && cmdline.includes('load-child.js')) found.push(Number(entry));
  }
  return found;
}

it('leaves no loader process after the boot load and after a reload', async () => {
  const file = await writeConfig(root, [{ name: 'a', port: await freePort() }]);
  const env = baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: file });
  const daemon = startCli(['boot'], env);
  running.push(daemon);
  await waitFor('the instance ready', () => daemon.output().includes('"to":"ready"'), 20_000);
  await waitFor('no loader left after boot', async () => (await loaders(daemon.child.pid!)).length === 0);
  const reload = await cli(['reload'], baseEnv(root));
  expect(reload.code, reload.stdout + reload.stderr).toBe(0);
  await waitFor('no loader left after the reload', async () => (await loaders(daemon.child.pid!)).length === 0);
});
