import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { waitUntil } from '../supervisor/fixtures.js';
import { fakeSmi, type FakeSmi } from './fake-smi.js';
import { silentLogger } from '../../../src/log.js';
import { createRouter } from '../../../src/router/router.js';
import { chat, settings, startStack, type Stack } from './http-harness.js';

let stack: Stack | undefined;
let smi: FakeSmi;
let stateDir: string;
let stateFile: string;
beforeEach(() => {
  smi = fakeSmi();
  stateDir = mkdtempSync(path.join(tmpdir(), 'router-vram-'));
  stateFile = path.join(stateDir, 'router-vram.json');
});
afterEach(async () => {
  await stack?.close();
  stack = undefined;
  smi.close();
  rmSync(stateDir, { recursive: true, force: true });
});

function saved(): { instances: Record<string, { key: string; vram_mb: number } | undefined> } | undefined {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch {
    return undefined;
  }
}

const MEMORY_QUERY = '--query-gpu=index,memory.total,memory.used';

describe('router VRAM', () => {
  it('learns what a model really uses after its load, persists it, and places by it instead of vram_mb', async () => {
    // Configured, a and b do not fit together (8000 + 6000 > 10000); measured, they do (3000 + 6000).
    stack = await startStack(
      [
        { name: 'a', control: { vramMb: 8000, gpus: ['0'] }, vramKey: 'key-a' },
        { name: 'b', control: { vramMb: 6000, gpus: ['0'] }, vramKey: 'key-b' },
      ],
      { gpuBudgetMb: { '0': 10000 } },
      [],
      { gpu: smi.probe, vramStateFile: stateFile },
    );
    smi.addProcess(stack.pidFile('a'), 3000);
    expect(stack.router.core.resolve('a')).toMatchObject({ vramMb: 8000, vramMeasured: false });
    expect((await chat(stack.url, 'a')).status).toBe(200);
    await waitUntil(() => stack!.router.core.resolve('a')!.vramMeasured === true, 10_000, 'a measured');
    expect(stack.router.core.resolve('a')!.vramMb).toBe(3000);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toContain(`infer_entry_router_vram_measured_bytes{model="a"} ${3000 * 1024 * 1024}`);
    expect(metrics).not.toContain('infer_entry_router_vram_measured_bytes{model="b"}');

    expect((await chat(stack.url, 'b')).status).toBe(200);
    expect(stack.supervisor.get('a')!.state).toBe('ready'); // not swapped out for b
    expect(stack.spawns('a')).toBe(1);
    await waitUntil(() => saved()?.instances.a?.vram_mb === 3000, 10_000, 'a saved');
    expect(saved()!.instances.a!.key).toBe('key-a');
  });

  it('a reload hands the measurements to the new router: one store writes the file, nothing measured is lost', async () => {
    stack = await startStack([{ name: 'a', control: { vramMb: 8000, gpus: ['0'] }, vramKey: 'key-a' }], {}, [], { gpu: smi.probe, vramStateFile: stateFile });
    smi.addProcess(stack.pidFile('a'), 3000);
    expect((await chat(stack.url, 'a')).status).toBe(200);
    await waitUntil(() => stack!.router.core.resolve('a')!.vramMeasured === true, 10_000, 'a measured');
    const previous = stack.router;
    const next = await createRouter({
      supervisor: stack.supervisor,
      instances: [{ name: 'a', host: '127.0.0.1', port: stack.ports.a!, control: { ...previous.core.instanceOf('a').control }, vramKey: 'key-a' }],
      settings: settings({ port: 0 }),
      log: silentLogger(),
      gpu: smi.probe,
      vramStateFile: stateFile,
      previous,
    });
    try {
      // The same store, not a second reader of a file the first may not have written yet.
      expect(next.vramStore).toBe(previous.vramStore);
      expect(next.core.resolve('a')).toMatchObject({ vramMb: 3000, vramMeasured: true });
    } finally {
      await next.close();
    }
  });

  it('trusts a saved measurement only for the same config, and survives a corrupt file', async () => {
    const before = { version: 1, instances: {
      a: { key: 'key-a', vram_mb: 3000, per_gpu_mb: { '0': 3000 }, measured_at: '2026-01-01T00:00:00.000Z' },
      b: { key: 'key-b-before-ctx-change', vram_mb: 1000, per_gpu_mb: { '0': 1000 }, measured_at: '2026-01-01T00:00:00.000Z' },
    } };
    writeFileSync(stateFile, JSON.stringify(before));
    const instances = [
      { name: 'a', control: { vramMb: 8000, gpus: ['0'] }, vramKey: 'key-a' },
      { name: 'b', control: { vramMb: 6000, gpus: ['0'] }, vramKey: 'key-b' },
    ];
    stack = await startStack(instances, {}, [], { gpu: smi.probe, vramStateFile: stateFile });
    expect(stack.router.core.resolve('a')).toMatchObject({ vramMb: 3000, vramMeasured: true });
    expect(stack.router.core.resolve('b')).toMatchObject({ vramMb: 6000, vramMeasured: false });
    await stack.close();

    writeFileSync(stateFile, '{"version": 1, "instances": {"a": ');
    stack = await startStack(instances, {}, [], { gpu: smi.probe, vramStateFile: stateFile });
    expect(stack.router.core.resolve('a')).toMatchObject({ vramMb: 8000, vramMeasured: false });
    smi.addProcess(stack.pidFile('a'), 2500);
    expect((await chat(stack.url, 'a')).status).toBe(200);
    await waitUntil(() => stack!.router.core.resolve('a')!.vramMeasured === true, 10_000, 'a measured');
    await waitUntil(() => saved()?.instances.a?.vram_mb === 2500, 10_000, 'the corrupt file rewritten');
  });

  /** a and b of 20 GB each on GPU 0, one at a time: b's start waits for a's VRAM up to `maxWaitMs`. */
  const swapPair = (maxWaitMs: number) =>
    startStack(
      [
        { name: 'a', control: { vramMb: 20000, gpus: ['0'], group: 'big' } },
        { name: 'b', control: { vramMb: 20000, gpus: ['0'], group: 'big' } },
      ],
      { groups: { big: { maxRunning: 1 } } },
      [],
      { gpu: smi.probe, vramWait: { intervalMs: 50, maxWaitMs } },
    );

  it('starts the next model of a swap only once the victim’s VRAM shows free', async () => {
    stack = await swapPair(120_000);
    smi.addProcess(stack.pidFile('a'), 20000);
    expect((await chat(stack.url, 'a')).status).toBe(200);
    smi.setUsed(20000); // the driver hands a's memory back late: still shown after its process is gone
    const b = chat(stack.url, 'b');
    await waitUntil(() => stack!.supervisor.get('a')!.state === 'stopped', 10_000, 'a stopped');
    const polls = smi.calls(MEMORY_QUERY);
    await waitUntil(() => smi.calls(MEMORY_QUERY) >= polls + 3, 10_000, 'b waiting for VRAM');
    expect(stack.spawns('b')).toBe(0);
    smi.setUsed(0);
    expect((await b).status).toBe(200);
    expect(stack.spawns('b')).toBe(1);
  });

  it('starts the next model anyway when VRAM never shows free within the bound', async () => {
    stack = await swapPair(1000);
    expect((await chat(stack.url, 'a')).status).toBe(200);
    smi.setUsed(24000); // never freed
    const b = await chat(stack.url, 'b');
    expect(b.status).toBe(200);
    expect(stack.spawns('b')).toBe(1);
    expect(smi.calls(MEMORY_QUERY)).toBeGreaterThanOrEqual(2); // it did wait, and gave up
  });
});
