import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { suggest } from '../../../src/config/did-you-mean.js';
import { parseDuration } from '../../../src/config/duration.js';
import { KNOWN_KEYS } from '../../../src/config/schema.js';

describe('durations', () => {
  it('accept ms, s, m, h, decimals and integer seconds; refuse the rest', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration(45)).toBe(45_000);
    for (const bad of ['5 minutes', '10', '-1s', '1d', '', 1.5, -3, true]) expect(parseDuration(bad), String(bad)).toBeUndefined();
  });
});

describe('did you mean', () => {
  it('suggests close keys and keys written with dashes, and nothing for unrelated words', () => {
    expect(suggest('enabel', KNOWN_KEYS.master)).toBe('enable');
    expect(suggest('log-dir', KNOWN_KEYS.control)).toBe('log_dir');
    expect(suggest('healthpath', KNOWN_KEYS.control)).toBe('health_path');
    expect(suggest('enable', KNOWN_KEYS.control)).toBe('enabled');
    expect(suggest('banana', KNOWN_KEYS.control)).toBeUndefined();
  });
});

describe('docs/config.md', () => {
  it('documents every key of master, control and the type-checked server keys', () => {
    const docs = readFileSync(fileURLToPath(new URL('../../../docs/config.md', import.meta.url)), 'utf8');
    const missing = [...KNOWN_KEYS.master, ...KNOWN_KEYS.control, ...KNOWN_KEYS.server].filter((k) => !docs.includes(`\`${k}\``));
    expect(missing, 'keys missing from docs/config.md').toEqual([]);
  });
});
