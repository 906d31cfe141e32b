/**
 * The VRAM each instance was measured to use, kept across restarts in one small JSON file. Each
 * entry carries a key of what decides the instance's memory (its argv and environment, secrets
 * left out), so a changed config is measured again instead of trusted.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { Logger } from 'pino';
import { z } from 'zod';

import type { InstanceSpec } from '../config/types.js';

export interface VramRecord {
  /** memoryKey() of the instance when it was measured. */
  key: string;
  /** MiB on the GPU that holds the most of it (what `vram_mb` means: needed on each of its GPUs). */
  vramMb: number;
  perGpuMb: Record<string, number>;
  measuredAt: string;
}

const FILE_SCHEMA = z.object({
  version: z.literal(1),
  instances: z.record(
    z.string(),
    z.object({ key: z.string(), vram_mb: z.number().nonnegative(), per_gpu_mb: z.record(z.string(), z.number()), measured_at: z.string() }),
  ),
});

/** What decides an instance's memory: model, ctx_size, n_gpu_layers, ... — argv and env, without secrets. */
export function memoryKey(spec: Pick<InstanceSpec, 'executable' | 'args' | 'env' | 'secrets'>): string {
  const secret = new Set(spec.secrets);
  const args = spec.args.map((arg) => (secret.has(arg) ? '<secret>' : arg));
  const env = Object.entries(spec.env)
    .filter(([name, value]) => !secret.has(value) && !/API_KEY/i.test(name))
    .sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256').update(JSON.stringify({ executable: spec.executable, args, env })).digest('hex').slice(0, 32);
}

export class VramStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    /** undefined: kept in memory only. */
    private readonly file: string | undefined,
    private readonly records: Map<string, VramRecord>,
    private readonly log: Logger,
  ) {}

  /** A missing file is an empty store; a corrupt one too, with one warning. Never throws. */
  static async open(file: string | undefined, log: Logger): Promise<VramStore> {
    const records = new Map<string, VramRecord>();
    if (file === undefined) return new VramStore(file, records, log);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err: error }, `cannot read ${file}: measured VRAM starts empty`);
      return new VramStore(file, records, log);
    }
    let parsed: z.infer<typeof FILE_SCHEMA>;
    try {
      parsed = FILE_SCHEMA.parse(JSON.parse(text));
    } catch {
      log.warn({ file }, `${file} is not a valid VRAM state file: ignored (it is rewritten after the next measurement)`);
      return new VramStore(file, records, log);
    }
    for (const [name, r] of Object.entries(parsed.instances)) {
      records.set(name, { key: r.key, vramMb: r.vram_mb, perGpuMb: r.per_gpu_mb, measuredAt: r.measured_at });
    }
    return new VramStore(file, records, log);
  }

  /** The measurement, only when it was taken with the same memory key. */
  get(name: string, key: string): VramRecord | undefined {
    const record = this.records.get(name);
    return record && record.key === key ? record : undefined;
  }

  /** Records and persists (temp file + rename, one write at a time); a failed write is logged. */
  put(name: string, record: VramRecord): Promise<void> {
    this.records.set(name, record);
    const file = this.file;
    if (file === undefined) return this.writing;
    const text = `${JSON.stringify(this.serialize(), null, 2)}\n`;
    this.writing = this.writing.then(async () => {
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(tmp, text);
        await rename(tmp, file);
      } catch (error) {
        this.log.warn({ file, err: error }, `cannot write ${file}: the VRAM measurement of ${name} is kept in memory only`);
      }
    });
    return this.writing;
  }

  private serialize(): z.infer<typeof FILE_SCHEMA> {
    const instances: z.infer<typeof FILE_SCHEMA>['instances'] = {};
    for (const [name, r] of this.records) instances[name] = { key: r.key, vram_mb: r.vramMb, per_gpu_mb: r.perGpuMb, measured_at: r.measuredAt };
    return { version: 1, instances };
  }
}
