import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLogger, linesLogger, readLogSettings, withStep } from '../../../src/log.js';

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
    linesLogger(child, 'info')(messages.join('\n'));
    await tick();
    expect(writes).toBe(1);
    expect(lines.map(withoutTime)).toEqual(byPino.map(withoutTime));
    expect(lines.map((l) => Object.keys(JSON.parse(l)))).toEqual(byPino.map((l) => Object.keys(JSON.parse(l))));
  });

  it('respect the level, and a logger not made by createLogger keeps one step', () => {
    const { lines, stream } = capture();
    const quiet = createLogger({ destination: stream, pretty: false, level: 'warn' });
    linesLogger(withStep(quiet, 'instance'), 'info')('dropped');
    expect(lines).toEqual([]);
    const plain = withStep(pino(stream), 'instance', { instance: 'b' });
    linesLogger(plain, 'info')('kept');
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
