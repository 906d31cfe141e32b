/**
 * The daemon's log destination is asynchronous (lines are joined into large writes); these prove
 * that nothing is lost when the process ends right after a flood: on SIGTERM, and on an uncaught
 * exception.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseEnv, cleanUpRoot, exitWithin, freePort, makeRoot, REPO, type Running, startCli, waitFor, writeConfig } from '../unit/control/harness.js';

const LINES = 50_000;
let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-flush-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

/** Numbers of the `flood N` lines in `text`, checked to be exactly 0..LINES-1 once each, in order. */
function floodNumbers(lines: string[]): number[] {
  return lines.flatMap((l) => {
    const m = /^flood (\d+) x+$/.exec(l);
    return m ? [Number(m[1])] : [];
  });
}
const everyLine = Array.from({ length: LINES }, (_, i) => i);

describe('nothing logged is lost when the daemon ends', () => {
  it('SIGTERM right after a child flooded its output: every line is in the daemon log and in the instance log file', async () => {
    const port = await freePort();
    const file = await writeConfig(root, [{ name: 'flood', port, server: [`fake_flood_lines = ${LINES}`] }]);
    // the instance's own log file as well
    const logFile = path.join(root, 'flood.log');
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('log_file = ""', `log_file = ${JSON.stringify(logFile)}`));
    const daemon = startCli(['boot'], baseEnv(root, { INFER_ENTRY_LOG_LEVEL: 'info', AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: file }));
    running.push(daemon);
    // the child has written everything once it says so (on stderr); much of stdout may still be queued in the daemon
    await waitFor('the flood to be written', () => daemon.output().includes('flood done:'), 30_000);
    daemon.child.kill('SIGTERM');
    expect(await exitWithin(daemon, 30_000)).toEqual({ code: 0, signal: null });
    // 'exit' can come before the last bytes of its stdout are read here
    if (daemon.child.stdout!.readable) await new Promise((resolve) => daemon.child.stdout!.once('close', resolve));

    const logged = daemon.logs().filter((l) => l.instance === 'flood' && l.stream === 'stdout').map((l) => String(l.msg));
    expect(floodNumbers(logged)).toEqual(everyLine);
    const inFile = (await fs.readFile(logFile, 'utf8')).split('\n');
    expect(floodNumbers(inFile)).toEqual(everyLine);
  }, 60_000);

  it('an uncaught exception right after a burst of log lines: every line reaches stdout before the process dies', async () => {
    const script = `
      import { createLogger, linesLogger, withStep } from ${JSON.stringify(path.join(REPO, 'dist/src/log.js'))};
      const log = createLogger({ destination: 1, pretty: false, level: 'info' });
      const out = linesLogger(withStep(log, 'instance', { instance: 'x' }), 'info');
      const batch = [];
      for (let i = 0; i < ${LINES}; i++) batch.push('flood ' + i + ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');
      // both ways instance output is written: as text, and as the bytes read from the pipe
      for (let i = 0; i < batch.length; i += 1000) {
        const lines = batch.slice(i, i + 1000);
        if (i % 2000 === 0) out.text(lines.join('\\n'));
        else out.bytes(Buffer.from(lines.join('\\n') + '\\n'), lines.length);
      }
      setImmediate(() => { throw new Error('boom'); });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('boom');
    const msgs = stdout.split('\n').filter(Boolean).map((l) => String((JSON.parse(l) as { msg: string }).msg));
    expect(floodNumbers(msgs)).toEqual(everyLine);
  }, 60_000);
  it('an uncaught exception while the log pipe is full and a write is under way loses no line and cuts none', async () => {
    // The writer on its own in a child: a batch (1 MB) larger than the pipe and the reader's buffer, a busy
    // main thread while the reader does not read, more lines, then the exception.
    const script = `
      import { LogWriter } from ${JSON.stringify(path.join(REPO, 'dist/src/log-writer.js'))};
      void process.stdout.writable; // as the daemon's CLI does first: Node opens the pipe non-blocking
      const w = LogWriter.for(1);
      let n = 0;
      const line = () => n++ + ':' + 'x'.repeat(200) + '\\n';
      let batch = '';
      for (let i = 0; i < 5000; i++) batch += line();
      w.write(batch);
      const until = Date.now() + 500;
      while (Date.now() < until);
      for (let i = 0; i < 1000; i++) w.write(line());
      throw new Error('boom');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const closed = new Promise((resolve) => child.stdout.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await exited;
    await closed;
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual(Array.from({ length: 6000 }, (_, i) => `${i}:${'x'.repeat(200)}`));
  });

  it('a backlog of many small lines behind a reader that stalls is written whole and in order once it reads again', async () => {
    // 120,000 separate writes (pino's own lines are one write each) while nothing reads the pipe:
    // thousands of writev batches, short writes cutting pieces, and the queue's front dropped as it goes.
    const script = `
      import { LogWriter } from ${JSON.stringify(path.join(REPO, 'dist/src/log-writer.js'))};
      void process.stdout.writable;
      const w = LogWriter.for(1);
      for (let i = 0; i < 120000; i++) w.write(i + ':' + 'y'.repeat(i % 37) + '\\n');
      await w.whenWritten(20000);
      process.stderr.write('written ' + w.pending + '\\n');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const closed = new Promise((resolve) => child.stdout.once('close', resolve));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    // not read at first: the pipe fills and the rest queues in the writer
    await new Promise((resolve) => setTimeout(resolve, 300));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    expect(await exited).toBe(0);
    await closed;
    expect(stderr).toBe('written 0\n');
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual(Array.from({ length: 120000 }, (_, i) => `${i}:${'y'.repeat(i % 37)}`));
  }, 60_000);
});
