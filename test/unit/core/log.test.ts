import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLogger, linesLogger, plainLineCount, readLogSettings, withStep } from '../../../src/log.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

describe('log lines', () => {
  it('carry exactly one step, the innermost one, in every JSON line', () => {
    const { lines, stream } = capture();
    const log = createLogger({ destination: stream, pretty: false, base: { step: 'boot' } });
    log.info('booting');
    const install = withStep(log, 'install');
    install.info('copying');
    install.child({ phase: 'extract' }).info('extracting');
    expect(lines.map((line) => (line.match(/"step":/g) ?? []).length)).toEqual([1, 1, 1]);
    expect(lines.map((line) => JSON.parse(line).step)).toEqual(['boot', 'install', 'install']);
  });

  it('redact api keys wherever a caller logs them', () => {
    const { lines, stream } = capture();
    const log = createLogger({ destination: stream, pretty: false });
    log.info({ api_key: 'sk-very-secret', spec: { api_key: 'sk-nested-secret' } }, 'starting');
    expect(lines.join('\n')).not.toContain('secret');
  });
});

describe('batched instance lines', () => {
  const withoutTime = (line: string) => ({ ...JSON.parse(line), time: undefined });

  it.each([
    ['with a backslash (a stringify per line)', ['plain', 'with "quotes" and \\ and \t tab', 'ünïcödé ✓', '']],
    ['without one (one stringify for all)', ['plain', 'with "quotes" and \t tab, \u0001, \u2028', 'ünïcödé ✓', '', '"']],
  ])('are the lines pino would write for each message, in one write: %s', async (_, messages) => {
    const { lines, stream } = capture();
    let writes = 0;
    const counted = new Writable({ write: (c, e, done) => (writes++, stream.write(c, e, done)) });
    const log = createLogger({ destination: counted, pretty: false, base: { step: 'boot' } });
    // '$&' would be a replacement pattern if the bindings went into a replace unescaped
    const child = withStep(log, 'instance', { instance: 'a$&$1', stream: 'stdout' });
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    for (const m of messages) child.info(m);
    await tick();
    const byPino = lines.splice(0);
    writes = 0;
    linesLogger(child, 'info').text(messages.join('\n'));
    await tick();
    expect(writes).toBe(1);
    expect(lines.map(withoutTime)).toEqual(byPino.map(withoutTime));
    expect(lines.map((l) => Object.keys(JSON.parse(l)))).toEqual(byPino.map((l) => Object.keys(JSON.parse(l))));
  });

  it('are the same lines when written from the bytes as read (fd destination)', async () => {
    // more than one piece of the batch (16 KiB), and a name that is neither plain ASCII nor free of '$'
    const messages = ['plain line', '', "it's {json}-like: [1, 2]", 'x'.repeat(300), ...Array.from({ length: 400 }, (_, i) => `line ${i} ${'z'.repeat(50)}`)];
    const bytes = Buffer.from(messages.map((m) => `${m}\n`).join(''));
    expect(plainLineCount(bytes, 8192)).toBe(messages.length);
    const script = `
      import { createLogger, linesLogger, withStep } from ${JSON.stringify(path.resolve('dist/src/log.js'))};
      const log = withStep(createLogger({ destination: 1, pretty: false, level: 'info' }), 'instance', { instance: 'a$&é', stream: 'stdout' });
      for (const m of ${JSON.stringify(messages)}) log.info(m);
      linesLogger(log, 'info').bytes(Buffer.from(${JSON.stringify(bytes.toString())}), ${messages.length});
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(out).toHaveLength(messages.length * 2);
    expect(out.slice(messages.length).map(withoutTime)).toEqual(out.slice(0, messages.length).map(withoutTime));
  });

  it('take the bytes as they are only when no line needs escaping, cleaning or cutting', () => {
    for (const text of ['a "quoted" word\n', 'back\\slash\n', 'tab\there\n', 'crlf\r\n', 'ünï\n', 'unended', `${'y'.repeat(20)}\n`]) {
      expect(plainLineCount(Buffer.from(text), 16)).toBe(-1);
    }
    // anywhere in a longer run of lines, at every alignment of the buffer
    const lines = Buffer.from(`${'plain line of text\n'.repeat(4)}`);
    for (let offset = 0; offset < 4; offset++) {
      const at = (text: Buffer) => Buffer.concat([Buffer.alloc(offset), text]).subarray(offset);
      expect(plainLineCount(at(lines), 64)).toBe(4);
      for (let i = 0; i < lines.length; i++) {
        for (const bad of [0x22, 0x5c, 0x09, 0x0d, 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xff]) {
          const copy = Buffer.from(lines);
          copy[i] = bad;
          expect(plainLineCount(at(copy), 64)).toBe(-1);
        }
      }
    }
  });

  it('respect the level, and a logger not made by createLogger keeps one step', () => {
    const { lines, stream } = capture();
    const quiet = createLogger({ destination: stream, pretty: false, level: 'warn' });
    linesLogger(withStep(quiet, 'instance'), 'info').text('dropped');
    expect(lines).toEqual([]);
    const plain = withStep(pino(stream), 'instance', { instance: 'b' });
    linesLogger(plain, 'info').text('kept');
    expect(lines).toHaveLength(1);
    expect((lines[0]!.match(/"step":/g) ?? []).length).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'kept', step: 'instance', instance: 'b', level: 30 });
  });
});

describe('INFER_ENTRY_LOG_LEVEL / INFER_ENTRY_LOG_FORMAT', () => {
  it('accept the pino levels in any case and the two formats', () => {
    expect(readLogSettings({ INFER_ENTRY_LOG_LEVEL: 'WARN', INFER_ENTRY_LOG_FORMAT: 'json' })).toEqual({ level: 'warn', format: 'json', warnings: [] });
    expect(readLogSettings({})).toEqual({ level: 'info', format: undefined, warnings: [] });
  });

  it('fall back to the defaults on a typo, with a warning naming the variable and value (PID 1 must not die of it)', () => {
    const settings = readLogSettings({ INFER_ENTRY_LOG_LEVEL: 'verbose', INFER_ENTRY_LOG_FORMAT: 'xml' });
    expect(settings.level).toBe('info');
    expect(settings.format).toBeUndefined();
    expect(settings.warnings.join('\n')).toMatch(/INFER_ENTRY_LOG_LEVEL="verbose"[\s\S]*INFER_ENTRY_LOG_FORMAT="xml"/);
  });
});
