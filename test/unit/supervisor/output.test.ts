import { describe, expect, it } from 'vitest';
import { LineRing, MAX_LINE_CHARS, toLines } from '../../../src/supervisor/output.js';

describe('lines of a chunk', () => {
  it('drop the CR of CRLF endings and keep empty lines', () => {
    expect(toLines('abc\r\ndef\n\n')).toEqual({ body: 'abc\ndef\n', count: 3 });
    expect(toLines('a\rb\n')).toEqual({ body: 'a\rb', count: 1 });
  });

  it('keep an unended last piece as a line', () => {
    expect(toLines('one\ntwo')).toEqual({ body: 'one\ntwo', count: 2 });
  });

  it('cut a line over 8 KiB into pieces of 8 KiB', () => {
    const lines = toLines(`short\n${'x'.repeat(MAX_LINE_CHARS * 2 + 10)}\nend\n`);
    expect(String(lines.body).split('\n').map((l) => l.length)).toEqual([5, MAX_LINE_CHARS, MAX_LINE_CHARS, 10, 3]);
    expect(lines.count).toBe(5);
  });
});

describe('line ring', () => {
  const push = (ring: LineRing, ...lines: string[]) => ring.push(toLines(`${lines.join('\n')}\n`));

  it('keeps the last N lines in order, across the chunks they came in', () => {
    const ring = new LineRing(3);
    push(ring, 'a', 'b');
    push(ring, 'c');
    push(ring, 'd', 'e');
    expect(ring.last(10)).toEqual(['c', 'd', 'e']);
    expect(ring.last(2)).toEqual(['d', 'e']);
    expect(ring.last(0)).toEqual([]);
    expect(ring.pushed).toBe(5);
  });

  it('drops old lines past its size in characters, keeping the newest chunk', () => {
    const ring = new LineRing(1000, 100);
    for (let i = 0; i < 10; i++) push(ring, `${i}`.padEnd(40, '.'));
    expect(ring.last(1000).map((l) => l[0])).toEqual(['8', '9']);
    push(ring, 'y'.repeat(500));
    expect(ring.last(1000)).toEqual(['y'.repeat(500)]);
  });
});
