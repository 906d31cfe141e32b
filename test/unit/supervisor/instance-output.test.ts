import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLogger, silentLogger } from '../../../src/log.js';
import { InstanceOutput } from '../../../src/supervisor/instance-output.js';
import { MAX_LINE_CHARS } from '../../../src/supervisor/output.js';

describe('instance output', () => {
  it('processes a burst completely and in order, redacted, into ring, followers and file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-output-'));
    try {
      const output = new InstanceOutput('x', silentLogger(), 10, () => 0, []);
      const file = path.join(dir, 'x.log');
      output.configure(['sk-secret-1'], file);
      const seen: string[] = [];
      output.follow((line) => seen.push(line));
      const stream = new PassThrough();
      const { done } = output.attach(stream, 'stderr');
      const line = (i: number) => `line ${i} sk-secret-1 ${'y'.repeat(200)}`;
      const lines = 100_000; // ~21 MB
      for (let i = 0; i < lines; i += 1000) {
        stream.write(Array.from({ length: 1000 }, (_, k) => line(i + k)).join('\n') + '\n');
      }
      stream.end('partial last line');
      await done;
      expect(seen).toHaveLength(lines + 1);
      expect(seen[54_321]).toBe(`line 54321 [redacted] ${'y'.repeat(200)}`);
      expect(output.ring.last(2)).toEqual([`line 99999 [redacted] ${'y'.repeat(200)}`, 'partial last line']);
      await output.closeFile();
      const text = await readFile(file, 'utf8');
      expect(text.split('\n')).toHaveLength(lines + 2);
      expect(text).not.toContain('sk-secret-1');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('redacts a secret that straddles the cut of an over-long line', async () => {
    const output = new InstanceOutput('x', silentLogger(), 10, () => 0, []);
    output.configure(['sk-secret-1'], undefined);
    const stream = new PassThrough();
    const { done } = output.attach(stream, 'stderr');
    // The 8 KiB cut falls inside the secret: neither piece alone holds all of it.
    const head = 'a'.repeat(MAX_LINE_CHARS - 4);
    stream.end(`${head}sk-secret-1 tail\nnext\n`);
    await done;
    const pieces = output.ring.last(10);
    expect(pieces.join('')).not.toMatch(/sk-s|ret-1/);
    expect(pieces.slice(0, -1).join('')).toBe(`${head}[redacted] tail`);
    expect(pieces.at(-1)).toBe('next');
  });

  it('keeps lines whole in the daemon log, the ring and the file when reads cut them anywhere', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-output-'));
    try {
      let daemonLog = '';
      // a destination taking bytes, like the daemon's own: output events take the byte path
      const destination = { write: (text: string) => void (daemonLog += text), writeBytes: (bytes: Buffer) => void (daemonLog += bytes.toString()) };
      const output = new InstanceOutput('x', createLogger({ destination, pretty: false, level: 'info' }), 1000, () => 0, []);
      const file = path.join(dir, 'x.log');
      output.configure([], file);
      const stream = new PassThrough();
      const { done } = output.attach(stream, 'stdout');
      const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${'z'.repeat(i % 37)}`);
      const all = Buffer.from(`${lines.join('\n')}\n`);
      for (let at = 0, step = 1; at < all.length; at += step, step = (step * 7) % 97) {
        stream.write(all.subarray(at, at + step));
        await new Promise((resolve) => setImmediate(resolve));
      }
      stream.end();
      await done;
      await output.closeFile();
      expect(await readFile(file, 'utf8')).toBe(all.toString());
      expect(output.ring.last(1000)).toEqual(lines);
      const events = daemonLog.split('\n').filter(Boolean).map((e) => JSON.parse(e) as { msg: string; stream: string; instance: string });
      expect(events.map((e) => e.msg)).toEqual(lines);
      expect(events.every((e) => e.stream === 'stdout' && e.instance === 'x')).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('redacts a secret split across two reads, in the log file, the ring and the daemon log', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-output-'));
    try {
      const events: string[] = [];
      const log = pino({ level: 'info' }, { write: (line: string) => void events.push(line) });
      const output = new InstanceOutput('x', log, 10, () => 0, []);
      const file = path.join(dir, 'x.log');
      output.configure(['sk-secret-1'], file);
      const stream = new PassThrough();
      const { done } = output.attach(stream, 'stdout');
      stream.write('key sk-sec');
      await new Promise((resolve) => setImmediate(resolve));
      stream.write('ret-1 used\nsk-');
      await new Promise((resolve) => setImmediate(resolve));
      stream.end('secret-1\nsk-se'); // the stream ends inside a prefix: it is shown as it is
      await done;
      await output.closeFile();
      const shown = ['key [redacted] used', '[redacted]', 'sk-se'];
      expect(output.ring.last(10)).toEqual(shown);
      expect(await readFile(file, 'utf8')).toBe(`${shown.join('\n')}\n`);
      expect(events.map((e) => JSON.parse(e).msg)).toEqual(shown);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps stdout and stderr lines whole in the log file when a line arrives in pieces', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-output-'));
    try {
      const output = new InstanceOutput('x', silentLogger(), 10, () => 0, []);
      const file = path.join(dir, 'x.log');
      output.configure([], file);
      const out = new PassThrough();
      const err = new PassThrough();
      const a = output.attach(out, 'stdout');
      const b = output.attach(err, 'stderr');
      const tick = () => new Promise((resolve) => setImmediate(resolve));
      out.write('half of ');
      await tick();
      err.write('an error\n');
      await tick();
      out.end('a line\nunended');
      err.end();
      await Promise.all([a.done, b.done]);
      await output.closeFile();
      expect(await readFile(file, 'utf8')).toBe('an error\nhalf of a line\nunended\n');
      expect(output.ring.last(10)).toEqual(['an error', 'half of a line', 'unended']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
