import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { realClock } from '../../../src/router/clock.js';
import { defaultBudgets, waitForVram } from '../../../src/router/gpu.js';
import { fakeSmi, type FakeSmi } from './fake-smi.js';

let smi: FakeSmi | undefined;
afterEach(() => {
  smi?.close();
  smi = undefined;
});

describe('GPU probe', () => {
  it('reads nvidia-smi and derives budgets: total minus a reserve unless configured', async () => {
    smi = fakeSmi(1000);
    expect(await smi.probe.memory()).toEqual([
      { index: '0', totalMb: 24576, usedMb: 1000 },
      { index: '1', totalMb: 12288, usedMb: 0 },
    ]);
    expect(await defaultBudgets(smi.probe, { '1': 10000 })).toEqual({ '0': 24576 - 512, '1': 10000 });
  });

  it('lists the processes holding GPU memory, by GPU index', async () => {
    smi = fakeSmi();
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pidFile = path.join(smi.dir, 'pids');
      writeFileSync(pidFile, `${child.pid}\n`);
      smi.addProcess(pidFile, 3000);
      expect(await smi.probe.processes!()).toEqual([{ pid: child.pid, gpu: '0', usedMb: 3000 }]);
      expect((await smi.probe.memory())[0]!.usedMb).toBe(3000);
    } finally {
      child.kill();
    }
  });

  it('holds a start until the previous model’s VRAM is really free', async () => {
    smi = fakeSmi(20000);
    let done = false;
    const waiting = waitForVram(smi.probe, realClock, ['0'], 8000, new AbortController().signal, { intervalMs: 50 }).then((ok) => {
      done = true;
      return ok;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    smi.setUsed(500);
    expect(await waiting).toBe(true);
  });

  it('stops waiting when the start is cancelled', async () => {
    smi = fakeSmi(24000);
    const ctl = new AbortController();
    const waiting = waitForVram(smi.probe, realClock, ['0'], 8000, ctl.signal, { intervalMs: 50 });
    setTimeout(() => ctl.abort(), 100);
    expect(await waiting).toBe(false);
  });
});
