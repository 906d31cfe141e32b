/**
 * Format detection from magic bytes: the file name is only a hint, because a
 * renamed archive should still install and a misnamed one should say so.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { PackageError } from '../errors.js';
import type { ArchiveFormat } from './types.js';

export const SUPPORTED_EXTENSIONS = ['.tar', '.tar.gz', '.tgz', '.zip'];

/** A tar header block's checksum is valid: the only signature a pre-POSIX (v7) tar has. */
export function tarChecksumValid(block: Buffer): boolean {
  if (block.length < 512) return false;
  const field = block.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const recorded = parseInt(field, 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === recorded;
}

export function detectFormatFromHeader(head: Buffer): ArchiveFormat | null {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) return 'zip';
  // an empty tar is just zero blocks: call it tar, and let the reader say it has no entries
  if (head.length >= 512 && head.every((b) => b === 0)) return 'tar';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  if (tarChecksumValid(head)) return 'tar';
  return null;
}

export function formatFromExtension(fileName: string): ArchiveFormat | null {
  const name = fileName.toLowerCase();
  if (name.endsWith('.tar.gz') || name.endsWith('.tgz')) return 'tar.gz';
  if (name.endsWith('.tar')) return 'tar';
  if (name.endsWith('.zip')) return 'zip';
  return null;
}

export async function detectFormat(file: string): Promise<ArchiveFormat> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    const format = detectFormatFromHeader(head.subarray(0, bytesRead));
    if (!format) {
      throw new PackageError('E_PKG_FORMAT', `package ${file} is not a supported archive (its first bytes are neither gzip, zip nor tar)`, {
        hint: `supported formats: ${SUPPORTED_EXTENSIONS.join(', ')}`,
        details: { file, name: path.basename(file) },
      });
    }
    return format;
  } finally {
    await handle.close();
  }
}
