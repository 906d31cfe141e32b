import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, readLogSettings, withStep } from '../../../src/log.js';

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
