/**
 * Learns what an instance really holds in VRAM: once it is ready and warm, the GPU memory of every
 * process in its process group (llama-server and anything it spawned), as nvidia-smi lists them.
 * The measurement replaces the configured `vram_mb` in placement: it is what this exact argv
 * used on this machine, where the configured value is a guess made before the first load.
 */
import { readFileSync } from 'node:fs';

import type { Logger } from 'pino';

import type { GpuProbe } from './gpu.js';
import type { VramStore } from './vram-store.js';

/** The process group of a pid (Linux /proc); null when it is gone or /proc cannot be read. */
export function processGroupOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state ppid pgrp ...
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    return Number.isInteger(pgrp) ? pgrp : null;
  } catch {
    return null;
  }
}

export interface VramLearnerOptions {
  store: VramStore;
  probe: GpuProbe;
  /** memoryKey() per instance name. */
  keys: ReadonlyMap<string, string>;
  log: Logger;
  /** Injected for tests; default /proc. */
  groupOf?: (pid: number) => number | null;
  now?: () => Date;
}

export class VramLearner {
  private readonly closing = new AbortController();

  constructor(private readonly options: VramLearnerOptions) {}

  /** MiB measured for the instance's current config; undefined until then. */
  measured(name: string): number | undefined {
    return this.options.store.get(name, this.keyOf(name))?.vramMb;
  }

  /**
   * Measures the process group led by `pid` (the supervisor runs each server as a group leader).
   * Undefined when nvidia-smi lists none of its processes — a CPU-only instance, or a container
   * whose PID namespace hides them — so nothing is learned rather than a false 0.
   */
  async learn(name: string, pid: number): Promise<number | undefined> {
    const { probe, log } = this.options;
    if (!probe.processes || this.closing.signal.aborted) return undefined;
    const groupOf = this.options.groupOf ?? processGroupOf;
    let processes;
    try {
      processes = await probe.processes(this.closing.signal);
    } catch (error) {
      if (!this.closing.signal.aborted) log.warn({ instance: name, err: error }, `nvidia-smi did not list GPU processes: the VRAM of ${name} is not measured`);
      return undefined;
    }
    const perGpuMb: Record<string, number> = {};
    for (const p of processes) {
      if (p.pid !== pid && groupOf(p.pid) !== pid) continue;
      perGpuMb[p.gpu] = (perGpuMb[p.gpu] ?? 0) + p.usedMb;
    }
    const values = Object.values(perGpuMb);
    if (values.length === 0) return undefined;
    const vramMb = Math.max(...values);
    // Known at once (placement uses it from now on); the file follows, its failure only logged.
    void this.options.store.put(name, { key: this.keyOf(name), vramMb, perGpuMb, measuredAt: (this.options.now?.() ?? new Date()).toISOString() });
    log.info({ instance: name, vram_mb: vramMb, per_gpu_mb: perGpuMb }, `${name} uses ${vramMb} MiB of VRAM (measured)`);
    return vramMb;
  }

  /** Cancels a measurement in progress (router closing). */
  close(): void {
    this.closing.abort();
  }

  private keyOf(name: string): string {
    return this.options.keys.get(name) ?? '';
  }
}
