/**
 * The supervisor bench's log flood (200,000 lines of 100 bytes) replayed in one process, without
 * a child and without other tools: one 64 KiB read per event-loop turn into InstanceOutput, with
 * the daemon's real logger on fd 2 and an instance log file. Deterministic enough to count
 * instructions, which the wall-clock flood on a shared machine is not:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null --log-file=cg.txt \
 *     node dist/bench/log-replay.js default 2>/tmp/daemon.log
 *
 * Modes: `default` (log file and daemon log), `fileonly` (daemon_log = false), `none` (start-up
 * and the flood's making only: subtract it). Prints the process's CPU time for the replay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createLogger, flushLog } from '../src/log.js';
import { InstanceOutput } from '../src/supervisor/instance-output.js';

const LINES = 200_000;
const WIDTH = 100;
const READ_BYTES = 64 * 1024;

const mode = process.argv[2] ?? 'default';
if (!['default', 'fileonly', 'none'].includes(mode)) throw new Error(`mode: default, fileonly or none, not ${mode}`);
const flood = Buffer.allocUnsafe(LINES * WIDTH);
let made = 0;
for (let i = 0; i < LINES; i++) {
  const head = `flood ${i} `;
  made += flood.write(`${head}${'x'.repeat(WIDTH - head.length - 1)}\n`, made, 'latin1');
}
let offset = 0;
const pipe = new Readable({
  highWaterMark: 0,
  read() {
    setImmediate(() => {
      if (offset >= flood.length) return this.push(null);
      // a read of its own, as from a pipe (the supervisor's ring keeps what it is given)
      this.push(Buffer.from(flood.subarray(offset, offset + READ_BYTES)));
      offset += READ_BYTES;
    });
  },
});
const dir = mkdtempSync(path.join(os.tmpdir(), 'log-replay-'));
const log = createLogger({ destination: 2, pretty: false, level: 'info' });
const output = new InstanceOutput('flood', log, 1000, () => Date.now(), []);
output.configure([], path.join(dir, 'flood.log'), mode !== 'fileonly');
const before = process.cpuUsage();
if (mode !== 'none') await output.attach(pipe, 'stdout').done;
await output.closeFile();
await flushLog(log, 10_000);
const cpu = process.cpuUsage(before);
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${mode}: ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU, ${output.resumed} pauses for a slow sink\n`);
