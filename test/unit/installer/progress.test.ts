import { describe, expect, it } from 'vitest';
import { ttyProgress } from '../../../src/installer/progress.js';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('byte progress indicator', () => {
  it('draws only on a terminal, throttled, ending with a newline at 100%', () => {
    expect(ttyProgress(fakeStream(false))).toBeUndefined();
    const tty = fakeStream(true);
    let now = 0;
    const p = ttyProgress(tty, () => now)!;
    p('extract', 1024 * 1024, 4 * 1024 * 1024);
    now = 50;
    p('extract', 2 * 1024 * 1024, 4 * 1024 * 1024); // throttled
    now = 300;
    p('extract', 4 * 1024 * 1024, 4 * 1024 * 1024);
    p('extract', 4 * 1024 * 1024, 4 * 1024 * 1024);
    expect(tty.text.match(/\(100%\)/g)).toHaveLength(1);
    expect(tty.text).toContain('extract: 1.0 MiB / 4.0 MiB (25%)');
    expect(tty.text).not.toContain('(50%)');
    expect(tty.text.endsWith('(100%)\n')).toBe(true);
  });
});

describe('byte progress indicator after a failure', () => {
  it('finish() ends a line left open below 100%, and does nothing after a completed phase', () => {
    const tty = fakeStream(true);
    const p = ttyProgress(tty, () => 1000)!;
    p('hash+copy', 10, 10);
    p.finish();
    expect(tty.text.endsWith('(100%)\n')).toBe(true);
    expect(tty.text).not.toContain('\n\n');
    p('extract', 1, 4);
    p.finish();
    expect(tty.text.endsWith('(25%)\n')).toBe(true);
  });
});
