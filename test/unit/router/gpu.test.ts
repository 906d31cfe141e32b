import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { findOnPath } from '../../../src/find-on-path.js';
import { realClock } from '../../../src/router/clock.js';
import { defaultBudgets, nvidiaSmiProbe, waitForVram } from '../../../src/router/gpu.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A fake nvidia-smi on PATH: reports the used MiB written in a file, so a test can "free" VRAM. */
function fakeSmi(usedMb: number): { env: NodeJS.ProcessEnv; setUsed(mb: number): void } {
  dir = mkdtempSync(path.join(tmpdir(), 'fake-smi-'));
  const used = path.join(dir, 'used');
  writeFileSync(used, String(usedMb));
  const script = path.join(dir, 'nvidia-smi');
  writeFileSync(script, `#!/bin/sh\n[ "$1" = "--query-gpu=index,memory.total,memory.used" ] || exit 9\necho "0, 24576, $(cat ${used})"\necho "1, 12288, 0"\n`);
  chmodSync(script, 0o755);
  return { env: { PATH: `${dir}:${process.env.PATH}` }, setUsed: (mb) => writeFileSync(used, String(mb)) };
}

describe('GPU probe', () => {
  it('reads nvidia-smi and derives budgets: total minus a reserve unless configured', async () => {
    const smi = fakeSmi(1000);
    const probe = nvidiaSmiProbe(findOnPath('nvidia-smi', smi.env)!);
    expect(await probe.memory()).toEqual([
      { index: '0', totalMb: 24576, usedMb: 1000 },
      { index: '1', totalMb: 12288, usedMb: 0 },
    ]);
    expect(await defaultBudgets(probe, { '1': 10000 })).toEqual({ '0': 24576 - 512, '1': 10000 });
  });

  it('holds a start until the previous model’s VRAM is really free', async () => {
    const smi = fakeSmi(20000);
    const probe = nvidiaSmiProbe(findOnPath('nvidia-smi', smi.env)!);
    let done = false;
    const waiting = waitForVram(probe, realClock, ['0'], 8000, new AbortController().signal, { intervalMs: 50 }).then((ok) => {
      done = true;
      return ok;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(done).toBe(false);
    smi.setUsed(500);
    expect(await waiting).toBe(true);
  });

  it('stops waiting when the start is cancelled', async () => {
    const smi = fakeSmi(24000);
    const probe = nvidiaSmiProbe(findOnPath('nvidia-smi', smi.env)!);
    const ctl = new AbortController();
    const waiting = waitForVram(probe, realClock, ['0'], 8000, ctl.signal, { intervalMs: 50 });
    setTimeout(() => ctl.abort(), 100);
    expect(await waiting).toBe(false);
  });
});
