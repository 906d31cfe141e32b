/**
 * What the GPUs hold, from `nvidia-smi --query-gpu` and `--query-compute-apps`. Injected: tests put
 * a fake nvidia-smi on PATH, machines without a GPU have no probe and budgets come from the config alone.
 */
import { execa } from 'execa';

import type { Clock } from './clock.js';

export interface GpuMemory {
  index: string;
  totalMb: number;
  usedMb: number;
}

/** One process holding memory on one GPU. */
export interface GpuProcess {
  pid: number;
  /** GPU index (as in GpuMemory.index). */
  gpu: string;
  usedMb: number;
}

export interface GpuProbe {
  memory(signal?: AbortSignal): Promise<GpuMemory[]>;
  /** Processes using GPU memory; absent when the probe cannot tell. */
  processes?(signal?: AbortSignal): Promise<GpuProcess[]>;
}

export function nvidiaSmiProbe(executable = 'nvidia-smi'): GpuProbe {
  const query = async (args: string[], signal?: AbortSignal): Promise<string[][]> => {
    const { stdout } = await execa(executable, [...args, '--format=csv,noheader,nounits'], { timeout: 10_000, ...(signal ? { cancelSignal: signal } : {}) });
    return stdout.split('\n').map((line) => line.split(',').map((part) => part.trim()));
  };
  return {
    async memory(signal) {
      return (await query(['--query-gpu=index,memory.total,memory.used'], signal))
        .filter((parts) => parts.length >= 3 && /^\d+$/.test(parts[0]!))
        .map(([index, total, used]) => ({ index: index!, totalMb: Number(total), usedMb: Number(used) }));
    },
    async processes(signal) {
      // Compute apps name their GPU by UUID; budgets and gpu_ids use the index.
      const gpus = new Map((await query(['--query-gpu=index,uuid'], signal)).filter((p) => p.length >= 2).map(([index, uuid]) => [uuid!, index!]));
      return (await query(['--query-compute-apps=pid,gpu_uuid,used_memory'], signal))
        .filter((parts) => parts.length >= 3 && /^\d+$/.test(parts[0]!) && /^\d+$/.test(parts[2]!) && gpus.has(parts[1]!))
        .map(([pid, uuid, used]) => ({ pid: Number(pid), gpu: gpus.get(uuid!)!, usedMb: Number(used) }));
    },
  };
}

/** Room the driver leaves for contexts and fragmentation when no budget is configured. */
export const DEFAULT_RESERVE_MB = 512;

/** Budgets per GPU: configured ones win; others are total minus the reserve. */
export async function defaultBudgets(probe: GpuProbe, configured: Record<string, number>): Promise<Record<string, number>> {
  const budgets: Record<string, number> = {};
  for (const gpu of await probe.memory()) budgets[gpu.index] = Math.max(0, gpu.totalMb - DEFAULT_RESERVE_MB);
  return { ...budgets, ...configured };
}

/**
 * Resolves once every GPU of a model shows `needMb` free, polling: the previous model's process
 * is gone by then, but the driver may take a moment to hand its memory back. Gives up waiting
 * after `maxWaitMs` (the start then proceeds, and a real shortage fails as out-of-memory).
 */
export async function waitForVram(
  probe: GpuProbe,
  clock: Clock,
  gpus: string[],
  needMb: number,
  signal: AbortSignal,
  { intervalMs = 250, maxWaitMs = 30_000 } = {},
): Promise<boolean> {
  const deadline = clock.now() + maxWaitMs;
  for (;;) {
    const memory = await probe.memory(signal).catch(() => null);
    if (memory === null) return false;
    const ok = gpus.every((gpu) => {
      const m = memory.find((g) => g.index === gpu);
      return !m || m.totalMb - m.usedMb >= needMb;
    });
    if (ok) return true;
    if (signal.aborted || clock.now() >= deadline) return false;
    await new Promise<void>((resolve) => {
      const timer = clock.setTimeout(resolve, intervalMs);
      signal.addEventListener('abort', () => {
        clock.clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
