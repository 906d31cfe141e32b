/**
 * `daemon_log = false` as a user meets it: a booted daemon whose instance writes its output to its log
 * file only, `infer-entry logs` still showing it, and `validate` refusing the setting without a log file.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseEnv, cleanUpRoot, cli, exitWithin, freePort, makeRoot, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

const LINES = 3000;
let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-daemon-log-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

describe('daemon_log = false', () => {
  it('the output is in the log file and `infer-entry logs`, not in the daemon log; the state changes are', async () => {
    const file = await writeConfig(root, [{ name: 'quiet', port: await freePort(), server: [`fake_flood_lines = ${LINES}`] }]);
    const logFile = path.join(root, 'quiet.log');
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('log_file = ""', `log_file = ${JSON.stringify(logFile)}\ndaemon_log = false`));
    const env = baseEnv(root, { INFER_ENTRY_LOG_LEVEL: 'info' });
    const daemon = startCli(['boot'], { ...env, AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: file });
    running.push(daemon);
    const floodLines = async () => (await fs.readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => /^flood \d+ x+$/.test(l));
    await waitFor('the flood in the log file', async () => (await floodLines()).length === LINES, 30_000);

    const logs = await cli(['logs', 'quiet', '-n', '1000'], env);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(new RegExp(`^flood ${LINES - 1} x+$`, 'm'));
    daemon.child.kill('SIGTERM');
    expect(await exitWithin(daemon, 30_000)).toEqual({ code: 0, signal: null });

    const events = daemon.logs();
    expect(events.filter((e) => e.instance === 'quiet' && e.step === 'instance')).toEqual([]);
    expect(events.filter((e) => e.instance === 'quiet' && e.step === 'supervise').map((e) => e.to)).toEqual(expect.arrayContaining(['starting', 'ready', 'stopped']));
    expect(await fs.readFile(logFile, 'utf8')).toContain('main: loading model');
  }, 60_000);

  it('without a log file is refused by validate, naming the line, the key and what to do', async () => {
    const file = await writeConfig(root, [{ name: 'quiet', port: await freePort(), control: ['daemon_log = false'] }]);
    const line = (await fs.readFile(file, 'utf8')).split('\n').indexOf('daemon_log = false') + 1;
    const result = await cli(['validate', file], baseEnv(root));
    expect(result.code).toBe(78);
    expect(result.stdout + result.stderr).toContain(
      `${file}:${line}:1 instance.quiet.control.daemon_log: daemon_log = false and no log file (log_file = ""): the instance's output would be written nowhere (expected a log_file or log_dir, or daemon_log = true)`,
    );
  });
});
