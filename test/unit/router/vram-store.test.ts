import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { memoryKey, VramStore } from '../../../src/router/vram-store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vram-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { log: pino(stream), warnings: () => lines.filter((l) => l.level === 40) };
}

const record = (key: string, vramMb: number) => ({ key, vramMb, perGpuMb: { '0': vramMb }, measuredAt: '2026-01-01T00:00:00.000Z' });

describe('VRAM state file', () => {
  it('keys a measurement by what decides memory, never by secrets', () => {
    const spec = { executable: '/opt/llama-server', args: ['-m', '/m/q.gguf', '-c', '8192'], env: { LLAMA_API_KEY: 'sk-1', CUDA_VISIBLE_DEVICES: '0' }, secrets: ['sk-1'] };
    const key = memoryKey(spec);
    expect(memoryKey({ ...spec, env: { LLAMA_API_KEY: 'sk-2', CUDA_VISIBLE_DEVICES: '0' }, secrets: ['sk-2'] })).toBe(key);
    expect(memoryKey({ ...spec, args: ['-m', '/m/q.gguf', '-c', '16384'] })).not.toBe(key);
    expect(memoryKey({ ...spec, env: { ...spec.env, CUDA_VISIBLE_DEVICES: '1' } })).not.toBe(key);
    expect(key).not.toContain('sk-1');
  });

  it('persists atomically and reads back only measurements taken with the same key', async () => {
    const file = path.join(dir, 'state', 'router-vram.json');
    const { log } = capture();
    const store = await VramStore.open(file, log);
    await store.put('a', record('k1', 3000));
    await store.put('b', record('k2', 5000));
    expect(readdirSync(path.dirname(file))).toEqual(['router-vram.json']); // no temp file left
    const again = await VramStore.open(file, log);
    expect(again.get('a', 'k1')?.vramMb).toBe(3000);
    expect(again.get('b', 'k2')?.vramMb).toBe(5000);
    expect(again.get('a', 'changed')).toBeUndefined();
  });

  it('ignores a corrupt or foreign file with one warning, and a missing one silently', async () => {
    const file = path.join(dir, 'router-vram.json');
    const missing = capture();
    await VramStore.open(file, missing.log);
    expect(missing.warnings()).toEqual([]);
    for (const text of ['{"version": 1, "instances": {"a": ', '{"version": 2, "instances": {}}', '[]']) {
      writeFileSync(file, text);
      const { log, warnings } = capture();
      const store = await VramStore.open(file, log);
      expect(store.get('a', 'k1')).toBeUndefined();
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]!.msg).toContain('not a valid VRAM state file');
    }
  });
});
