/**
 * Limits that stop a decompression bomb or a disk that is filling up before
 * they hurt the container. The maximum is configurable; the defaults are sized
 * for CUDA builds (a few GiB) with room to spare.
 */
import { ConfigError } from '../errors.js';
import { ENV } from '../env.js';

export const DEFAULT_MAX_BYTES = 32 * 1024 ** 3;
/** Free space an install must leave on the filesystem it writes to. */
export const DEFAULT_RESERVE_BYTES = 64 * 1024 ** 2;

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES`: bytes, or with a K/M/G/T suffix (binary, `KiB`/`KB` accepted too). */
export function parseMaxBytes(env: NodeJS.ProcessEnv): number {
  const raw = env[ENV.PKG_MAX_BYTES];
  if (raw === undefined || raw.trim() === '') return DEFAULT_MAX_BYTES;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(raw);
  const value = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : NaN;
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError('E_PKG_MAX_BYTES', `${ENV.PKG_MAX_BYTES}=${JSON.stringify(raw)} is not a size`, {
      hint: 'use a number of bytes, optionally with a K, M, G or T suffix (e.g. 8G)',
    });
  }
  return Math.floor(value);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
