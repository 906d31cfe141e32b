import { describe, expect, it } from 'vitest';
import { readFlag } from '../../../src/env.js';

describe('readFlag (the 1|true switch rule shared by every AUTO_INFER_* switch)', () => {
  const name = 'AUTO_INFER_LLAMA_CPP_ON_BOOT';

  it.each(['1', 'true', 'TRUE', 'True', ' true '])('%j turns the switch on', (value) => {
    expect(readFlag(name, { [name]: value })).toMatchObject({ enabled: true });
  });

  it.each(['0', 'false', 'FALSE', ''])('%j turns it off without a warning', (value) => {
    const flag = readFlag(name, { [name]: value });
    expect(flag.enabled).toBe(false);
    expect(flag.warning).toBeUndefined();
  });

  it('unset is off and says the variable is not set', () => {
    expect(readFlag(name, {})).toEqual({ enabled: false, reason: `${name} is not set` });
  });

  it.each(['yes', 'on', 'ture', '2'])('%j is off with a warning naming the value', (value) => {
    const flag = readFlag(name, { [name]: value });
    expect(flag.enabled).toBe(false);
    expect(flag.warning).toContain(JSON.stringify(value));
    expect(flag.warning).toContain(name);
  });
});
