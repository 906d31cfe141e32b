import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findOnPath } from '../../../src/find-on-path.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ie-path-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(rel: string, mode: number): string {
  const full = path.join(dir, rel);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, '#!/bin/sh\n');
  chmodSync(full, mode);
  return full;
}

describe('findOnPath (how a bare llama-server / setpriv is found)', () => {
  it('takes the first PATH directory holding an executable regular file, like execvp', () => {
    file('a/llama-server', 0o644); // not executable: skipped
    mkdirSync(path.join(dir, 'b/llama-server'), { recursive: true }); // a directory: skipped
    const wanted = file('c/llama-server', 0o755);
    file('d/llama-server', 0o755);
    const PATH = ['', 'a', 'b', 'c', 'd'].map((d) => (d ? path.join(dir, d) : '')).join(':');
    expect(findOnPath('llama-server', { PATH })).toBe(wanted);
  });

  it('is undefined when nothing matches or PATH is unset', () => {
    expect(findOnPath('llama-server', { PATH: path.join(dir, 'none') })).toBeUndefined();
    expect(findOnPath('llama-server', {})).toBeUndefined();
  });
});
