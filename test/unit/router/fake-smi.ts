/**
 * A fake nvidia-smi on PATH. GPU 0 has 24576 MiB, GPU 1 12288 MiB. Its used memory is what
 * `setUsed` wrote plus the MiB of every registered process that is still alive; those processes
 * are listed by --query-compute-apps on GPU 0. A test "frees" VRAM by writing a file.
 */
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { findOnPath } from '../../../src/find-on-path.js';
import { nvidiaSmiProbe, type GpuProbe } from '../../../src/router/gpu.js';

export interface FakeSmi {
  dir: string;
  probe: GpuProbe;
  /** MiB used on GPU 0 besides registered processes (memory a driver has not handed back yet). */
  setUsed(mb: number): void;
  /** The last pid appended to `pidFile` uses `mb` MiB on GPU 0 while it runs. */
  addProcess(pidFile: string, mb: number): void;
  /** How many times each query ran so far. */
  calls(query: string): number;
  close(): void;
}

export function fakeSmi(usedMb = 0): FakeSmi {
  const dir = mkdtempSync(path.join(tmpdir(), 'fake-smi-'));
  const used = path.join(dir, 'used');
  const apps = path.join(dir, 'apps');
  const calls = path.join(dir, 'calls');
  writeFileSync(used, String(usedMb));
  writeFileSync(apps, '');
  writeFileSync(calls, '');
  const script = path.join(dir, 'nvidia-smi');
  writeFileSync(
    script,
    `#!/bin/sh
echo "$1" >> '${calls}'
alive() {
  while read -r file mb; do
    pid=$(tail -n 1 "$file" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid $mb"
  done < '${apps}'
}
case "$1" in
--query-gpu=index,memory.total,memory.used)
  total=$(cat '${used}')
  for mb in $(alive | cut -d' ' -f2); do total=$((total + mb)); done
  echo "0, 24576, $total"
  echo "1, 12288, 0";;
--query-gpu=index,uuid)
  echo "0, GPU-fake-0"
  echo "1, GPU-fake-1";;
--query-compute-apps=pid,gpu_uuid,used_memory)
  alive | while read -r pid mb; do echo "$pid, GPU-fake-0, $mb"; done;;
*) exit 9;;
esac
`,
  );
  chmodSync(script, 0o755);
  return {
    dir,
    probe: nvidiaSmiProbe(findOnPath('nvidia-smi', { PATH: `${dir}:${process.env.PATH}` })!),
    setUsed: (mb) => writeFileSync(used, String(mb)),
    addProcess: (pidFile, mb) => appendFileSync(apps, `${pidFile} ${mb}\n`),
    calls: (query) => readFileSync(calls, 'utf8').split('\n').filter((line) => line === query).length,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
