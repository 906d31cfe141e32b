import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_LINE_CHARS, RingBuffer } from '../../../src/supervisor/output.js';

function split(chunks: (string | Buffer)[], max?: number) {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), max);
  for (const chunk of chunks) splitter.push(chunk);
  return { lines, flush: () => (splitter.flush(), lines) };
}

describe('line splitting', () => {
  it('joins lines across chunks and strips CR', () => {
    expect(split(['ab', 'c\r\nde', 'f\n\n']).lines).toEqual(['abc', 'def', '']);
  });

  it('emits the last partial line only on flush', () => {
    const s = split(['one\ntwo']);
    expect(s.lines).toEqual(['one']);
    expect(s.flush()).toEqual(['one', 'two']);
  });

  it('cuts an over-long line at 8 KiB without waiting for its end', () => {
    const s = split(['x'.repeat(MAX_LINE_CHARS * 2 + 10)]);
    expect(s.lines.map((l) => l.length)).toEqual([MAX_LINE_CHARS, MAX_LINE_CHARS]);
    expect(s.flush().map((l) => l.length)).toEqual([MAX_LINE_CHARS, MAX_LINE_CHARS, 10]);
  });

  it('does not break a UTF-8 character split across chunks', () => {
    const bytes = Buffer.from('héllo\n');
    expect(split([bytes.subarray(0, 2), bytes.subarray(2)]).lines).toEqual(['héllo']);
  });
});

describe('ring buffer', () => {
  it('keeps the last N lines in order', () => {
    const ring = new RingBuffer(3);
    for (const x of ['a', 'b', 'c', 'd', 'e']) ring.push(x);
    expect(ring.last(10)).toEqual(['c', 'd', 'e']);
    expect(ring.last(2)).toEqual(['d', 'e']);
    expect(ring.last(0)).toEqual([]);
  });
});
