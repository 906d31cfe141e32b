/** Reload as a diff, output handling (redaction, log file, floods) and the status surface. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/log.js';
import { createSupervisor } from '../../src/supervisor/supervisor.js';
import type { SupervisorApi } from '../../src/supervisor/types.js';
import { alive, fakeSpec, freePort, recordTransitions, waitUntil } from '../unit/supervisor/fixtures.js';

let supervisor: SupervisorApi | undefined;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-sup-logs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await supervisor?.stopAll({ immediate: true });
  supervisor = undefined;
});

function memoryLogger(level = 'debug') {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { log: createLogger({ destination: stream, pretty: false, level }), text: () => chunks.join('') };
}

/** The supervisor's transition events among a JSON log's lines. */
function transitionEvents(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((e) => e.step === 'supervise' && e.to !== undefined);
}

describe('reload', () => {
  it('starts added, stops removed, restarts changed, leaves unchanged and disabled alone', async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    const keep = fakeSpec('keep', ports[0]!);
    const change = fakeSpec('change', ports[1]!);
    const remove = fakeSpec('remove', ports[2]!);
    const off = fakeSpec('off', ports[3]!, { enabled: false });
    const first = await supervisor.reload({ file: '<t>', enable: true, instances: [keep, change, remove, off] });
    expect(first.added.sort()).toEqual(['change', 'keep', 'off', 'remove']);
    const before = await supervisor.waitSettled(['keep', 'change', 'remove', 'off']);
    expect(before.map((s) => s.state)).toEqual(['ready', 'ready', 'ready', 'stopped']);
    const [keepPid, changePid, removePid] = before.map((s) => s.pid!);

    const changed = fakeSpec('change', ports[1]!, { env: { FAKE_LOAD_MS: '100' } });
    const added = fakeSpec('added', await freePort());
    const result = await supervisor.reload({ file: '<t>', enable: true, instances: [keep, changed, off, added] });
    expect(result).toEqual({ added: ['added'], removed: ['remove'], changed: ['change'], unchanged: ['keep', 'off'] });
    const after = await supervisor.waitSettled(['keep', 'change', 'added', 'off']);
    expect(after.map((s) => s.state)).toEqual(['ready', 'ready', 'ready', 'stopped']);
    expect(after[0]!.pid).toBe(keepPid);
    expect(after[1]!.pid).not.toBe(changePid);
    expect(alive(changePid!)).toBe(false);
    expect(alive(removePid!)).toBe(false);
    expect(supervisor.get('remove')).toBeUndefined();
    expect(rec.events.filter((e) => e.instance === 'keep').map((e) => e.to)).toEqual(['starting', 'ready']);

    // A disabled instance is started on request, with a fresh crash counter.
    const started = await supervisor.start('off');
    expect(started.state).toBe('starting');
    expect((await supervisor.waitSettled(['off']))[0]!.state).toBe('ready');
  });

  it('a shutdown during a reload does not let the reload start anything again', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const port = await freePort();
    const slow = { env: { FAKE_IGNORE_SIGTERM: '1' }, supervision: { stopGraceMs: 800 } };
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('c', port, slow)] });
    const [before] = await supervisor.waitSettled(['c']);
    const changed = fakeSpec('c', port, { ...slow, env: { ...slow.env, FAKE_LOAD_MS: '10' } });
    const reload = supervisor.reload({ file: '<t>', enable: true, instances: [changed, fakeSpec('new', await freePort())] });
    await waitUntil(() => supervisor!.get('c')!.state === 'stopping', 5_000, 'c is stopping for the reload');
    await supervisor.stopAll();
    await reload;
    expect(supervisor.list().map((s) => [s.name, s.state])).toEqual([
      ['c', 'stopped'],
      ['new', 'stopped'],
    ]);
    expect(alive(before!.pid!)).toBe(false);
    await expect(supervisor.start('c')).rejects.toMatchObject({ code: 'E_SHUTTING_DOWN' });
  });

  it('[master] enable = false knows the instances but starts none', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    await supervisor.reload({ file: '<t>', enable: false, instances: [fakeSpec('a', await freePort())] });
    expect(supervisor.list().map((s) => [s.name, s.state, s.enabled])).toEqual([['a', 'stopped', false]]);
  });

  it('retries a failed instance whose config is unchanged, and replaces a changed one that waits in backoff', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    const model = path.join(dir, 'later.gguf');
    const failing = fakeSpec('f', await freePort(), { model });
    const looping = fakeSpec('b', await freePort(), { env: { FAKE_EXIT_AT_ONCE: '1' }, supervision: { backoff: { initialMs: 60_000, maxMs: 60_000 } } });
    await supervisor.reload({ file: '<t>', enable: true, instances: [failing, looping] });
    expect((await rec.waitState('f', 'failed')).failureClass).toBe('model-load-failed');
    await rec.waitState('b', 'backoff');
    // The user fixes what the config cannot express (the model file) and reloads.
    await writeFile(model, 'gguf');
    const fixed = fakeSpec('b', looping.port);
    const result = await supervisor.reload({ file: '<t>', enable: true, instances: [failing, fixed] });
    expect(result).toMatchObject({ unchanged: ['f'], changed: ['b'] });
    const settled = await supervisor.waitSettled(['f', 'b']);
    expect(settled.map((s) => [s.name, s.state])).toEqual([
      ['f', 'ready'],
      ['b', 'ready'],
    ]);
  });

  it('rejects unknown names with a stable code and aborts waitSettled on request', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('a', await freePort(), { env: { FAKE_LOAD_MS: '60000' } })] });
    await expect(supervisor.start('nope')).rejects.toMatchObject({ code: 'E_UNKNOWN_INSTANCE' });
    const ctl = new AbortController();
    const waiting = supervisor.waitSettled(['a'], ctl.signal);
    ctl.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
  });
});

describe('output', () => {
  it('keeps secrets out of logs, status, log files and the child env of the router switch', async () => {
    const secret = 'sk-very-secret-4242';
    const logFile = path.join(dir, 'secret.log');
    const mem = memoryLogger();
    supervisor = createSupervisor({ log: mem.log, env: { ...process.env, LLAMA_SERVER_ROUTER_PORT: '9999' } });
    const spec = fakeSpec('a', await freePort(), {
      env: { LLAMA_API_KEY: secret, FAKE_PRINT_ENV: 'LLAMA_API_KEY,LLAMA_SERVER_ROUTER_PORT' },
      args: ['--api-key', secret],
      secrets: [secret],
      logFile,
    });
    await supervisor.reload({ file: '<t>', enable: true, instances: [spec] });
    await supervisor.waitSettled(['a']);
    const lines = supervisor.logs('a', 100);
    expect(lines).toContain('env LLAMA_API_KEY=[redacted]');
    expect(lines).toContain('env LLAMA_SERVER_ROUTER_PORT=<unset>');
    await supervisor.stop('a');
    const status = JSON.stringify(supervisor.list());
    expect(status).toContain('--api-key');
    expect(status).not.toContain(secret);
    expect(mem.text()).toContain('env LLAMA_API_KEY=[redacted]');
    expect(mem.text()).not.toContain(secret);
    const file = await readFile(logFile, 'utf8');
    expect(file).toContain('env LLAMA_API_KEY=[redacted]');
    expect(file).not.toContain(secret);
  });

  it('outputLevel debug keeps server output out of an info log but in `logs` and the log file (boot -- bash on a terminal)', async () => {
    const logFile = path.join(dir, 'quiet.log');
    const mem = memoryLogger('info');
    supervisor = createSupervisor({ log: mem.log, outputLevel: 'debug' });
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('q', await freePort(), { logFile })] });
    await supervisor.waitSettled(['q']);
    await supervisor.stop('q');
    expect(supervisor.logs('q', 100).some((line) => line.includes('main: loading model'))).toBe(true);
    expect(await readFile(logFile, 'utf8')).toContain('main: loading model');
    expect(mem.text()).not.toContain('main: loading model');
    // The supervisor's own events stay visible.
    expect(mem.text()).toContain('"to":"ready"');
  });

  it('daemon_log = false: the output reaches the log file and `logs`, not the daemon log; the supervisor\'s events stay', async () => {
    const quietFile = path.join(dir, 'off.log');
    const loudFile = path.join(dir, 'on.log');
    const mem = memoryLogger('info');
    supervisor = createSupervisor({ log: mem.log });
    const quiet = fakeSpec('quiet', await freePort(), { logFile: quietFile, daemonLog: false, env: { FAKE_FLOOD_LINES: '2000' } });
    const loud = fakeSpec('loud', await freePort(), { logFile: loudFile, env: { FAKE_FLOOD_LINES: '2000' } });
    await supervisor.reload({ file: '<t>', enable: true, instances: [quiet, loud] });
    await supervisor.waitSettled(['quiet', 'loud']);
    const floodDone = (name: string) => supervisor!.logs(name, 10).some((l) => l.startsWith('flood 1999 '));
    await waitUntil(() => floodDone('quiet') && floodDone('loud'), 20_000, 'both floods in the ring');
    await supervisor.stop('quiet');
    await supervisor.stop('loud');
    const events = mem
      .text()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const outputOf = (name: string) => events.filter((e) => e.step === 'instance' && e.instance === name).map((e) => String(e.msg));
    expect(outputOf('quiet')).toEqual([]);
    expect(events.filter((e) => e.instance === 'quiet' && e.step === 'supervise').map((e) => e.to)).toEqual(['starting', 'ready', 'stopping', 'stopped']);
    expect(outputOf('loud')).toContain('main: loading model');
    expect(outputOf('loud').filter((m) => m.startsWith('flood '))).toHaveLength(2001);
    for (const file of [quietFile, loudFile]) {
      const text = await readFile(file, 'utf8');
      expect(text).toContain('main: loading model');
      expect(text.split('\n').filter((l) => /^flood \d+ x+$/.test(l))).toHaveLength(2000);
    }
    // `infer-entry logs` reads the ring, which keeps the lines after the stop as before
    expect(supervisor.logs('quiet', 1000)).toHaveLength(1000);
    expect(supervisor.logs('quiet', 1000)).toContainEqual(expect.stringMatching(/^flood 1999 x+$/));
  });

  it('daemon_log = false: a crash\'s last lines ride on its exit event in the daemon log', async () => {
    const mem = memoryLogger('info');
    supervisor = createSupervisor({ log: mem.log });
    const rec = recordTransitions(supervisor);
    const oom = fakeSpec('oom', await freePort(), { logFile: path.join(dir, 'oom.log'), daemonLog: false, env: { FAKE_FAIL: 'out-of-memory' }, supervision: { restart: 'never' } });
    await supervisor.reload({ file: '<t>', enable: true, instances: [oom] });
    await rec.waitState('oom', 'failed');
    const failed = transitionEvents(mem.text()).find((e) => e.to === 'failed');
    expect(failed).toMatchObject({ instance: 'oom', class: 'out-of-memory', exit_code: 1 });
    expect(failed!.last_lines).toEqual(expect.arrayContaining(['main: exiting due to model loading error', expect.stringContaining('cudaMalloc failed: out of memory')]));
    expect(mem.text()).not.toContain('"step":"instance"');
    // with the output in the daemon log, the exit event does not repeat it
    const mem2 = memoryLogger('info');
    await supervisor.stopAll({ immediate: true });
    supervisor = createSupervisor({ log: mem2.log });
    const rec2 = recordTransitions(supervisor);
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('oom', oom.port, { env: { FAKE_FAIL: 'out-of-memory' }, supervision: { restart: 'never' } })] });
    await rec2.waitState('oom', 'failed');
    expect(transitionEvents(mem2.text()).find((e) => e.to === 'failed')).not.toHaveProperty('last_lines');
    expect(mem2.text()).toContain('main: exiting due to model loading error');
  });

  it('daemon_log = false with an unusable log file: the output goes to the daemon log instead of nowhere', async () => {
    const mem = memoryLogger();
    const notADir = path.join(dir, 'plain-file-2');
    await writeFile(notADir, 'x');
    supervisor = createSupervisor({ log: mem.log });
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('a', await freePort(), { logFile: path.join(notADir, 'a.log'), daemonLog: false })] });
    const [status] = await supervisor.waitSettled(['a']);
    expect(status!.state).toBe('ready');
    expect(mem.text()).toMatch(/"level":40[^\n]*is not a directory; its output goes to the daemon log instead/);
    // every line, the first ones too (read before the log file's open could fail)
    await supervisor.stop('a');
    const logged = mem
      .text()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => e.step === 'instance')
      .map((e) => e.msg);
    expect(logged).toEqual(supervisor.logs('a', 1000));
    expect(logged).toContain('main: loading model');
  });

  it('an unusable log file is a warning, not a reason to keep the model down', async () => {
    const mem = memoryLogger();
    const notADir = path.join(dir, 'plain-file');
    await writeFile(notADir, 'x');
    supervisor = createSupervisor({ log: mem.log });
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('a', await freePort(), { logFile: path.join(notADir, 'a.log') })] });
    const [status] = await supervisor.waitSettled(['a']);
    expect(status!.state).toBe('ready');
    expect(mem.text()).toMatch(/"level":40[^\n]*is not a directory/);
  });

  it('logs every transition as one structured event', async () => {
    const mem = memoryLogger();
    supervisor = createSupervisor({ log: mem.log });
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('a', await freePort())] });
    await supervisor.waitSettled(['a']);
    const events = transitionEvents(mem.text());
    expect(events.map((e) => [e.from, e.to])).toEqual([
      ['stopped', 'starting'],
      ['starting', 'ready'],
    ]);
    expect(events[1]).toMatchObject({ instance: 'a', reason: expect.any(String), restarts: 0, class: null });
    expect(events[1]!.pid).toEqual(expect.any(Number));
    const outputLine = mem
      .text()
      .split('\n')
      .find((line) => line.includes('main: model loaded'));
    expect(JSON.parse(outputLine!)).toMatchObject({ step: 'instance', instance: 'a', stream: 'stderr', level: 30 });
  });

  it('an exit is logged with the exiting pid, exit code, signal, class and restart count', async () => {
    const mem = memoryLogger();
    supervisor = createSupervisor({ log: mem.log });
    const rec = recordTransitions(supervisor);
    await supervisor.reload({ file: '<t>', enable: true, instances: [fakeSpec('c', await freePort(), { env: { FAKE_CRASH_AFTER_MS: '300', FAKE_CRASH_CODE: '3' } })] });
    const ready = await rec.waitState('c', 'ready');
    await rec.waitState('c', 'starting', 2);
    await supervisor.stop('c');
    const events = transitionEvents(mem.text());
    for (const event of events) {
      expect(Object.keys(event)).toEqual(expect.arrayContaining(['instance', 'from', 'to', 'reason', 'pid', 'exit_code', 'signal', 'restarts', 'class']));
    }
    const exit = events.find((e) => e.to === 'backoff');
    // 'unhealthy' when a probe met the dying server's closed port before its exit was seen (a busy machine)
    expect(exit).toMatchObject({ instance: 'c', from: expect.stringMatching(/^(ready|unhealthy)$/), pid: ready.pid, exit_code: 3, signal: null, restarts: 0, class: 'crashed' });
    expect(events.find((e) => e.from === 'backoff')).toMatchObject({ to: 'starting', restarts: 1 });
  });

  it('a log flood loses nothing and does not block the child', async () => {
    const lines = 100_000;
    const logFile = path.join(dir, 'flood.log');
    supervisor = createSupervisor({ log: silentLogger(), logRingLines: 500 });
    const followed: string[] = [];
    await supervisor.reload({
      file: '<t>',
      enable: true,
      instances: [fakeSpec('flood', await freePort(), { env: { FAKE_FLOOD_LINES: String(lines) }, logFile })],
    });
    supervisor.followLogs('flood', (line) => followed.push(line));
    await supervisor.waitSettled(['flood']);
    // stderr ("flood done") and stdout are separate pipes: wait for both to be through.
    const finished = () => followed.some((l) => l.startsWith('flood done')) && followed.some((l) => l.startsWith('flood 99999 '));
    await waitUntil(finished, 20_000, 'the flood finished');
    expect(supervisor.logs('flood', 500)).toHaveLength(500);
    const floodLines = followed.filter((l) => l.startsWith('flood ') && !l.startsWith('flood done'));
    expect(floodLines).toHaveLength(lines);
    expect(floodLines.every((l, i) => l.startsWith(`flood ${i} `))).toBe(true);
    await supervisor.stop('flood');
    const file = (await readFile(logFile, 'utf8')).split('\n').filter((l) => /^flood \d+ /.test(l));
    expect(file).toHaveLength(lines);
    expect(file[12345]).toMatch(/^flood 12345 x+$/);
    expect(new Set(file.map((l) => l.length))).toEqual(new Set([99]));
  });
});
