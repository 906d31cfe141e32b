/**
 * A file's identity as the kernel keeps it: device, inode, size, mtime and
 * ctime, at nanosecond precision. Any write, truncate, chmod, rename over,
 * link or `touch` changes the ctime, and only the kernel sets it (to the
 * current time), so a file whose identity is unchanged since it was hashed
 * still holds the hashed bytes — unless someone with root restores size and
 * mtime AND turns the clock back before writing, which no accident does.
 */
import { stat } from 'node:fs/promises';

export interface FileIdentity {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

const FIELDS: (keyof FileIdentity)[] = ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs'];
const NAMES: Record<keyof FileIdentity, string> = { dev: 'device', ino: 'inode', size: 'size', mtimeNs: 'mtime', ctimeNs: 'ctime' };

/**
 * A timestamp this close to the moment hashing started may still be shared by a
 * write that lands after our read (timestamps advance in clock ticks, 2 s on FAT,
 * and an NFS server's clock can be ahead of ours): such an identity is not trusted.
 */
export const RACY_MARGIN_MS = 2_000;

export async function identityOf(file: string): Promise<FileIdentity> {
  const st = await stat(file, { bigint: true });
  return { dev: String(st.dev), ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) };
}

/** Names of the fields that differ ('device', 'inode', 'size', 'mtime', 'ctime'); empty when identical. */
export function identityChanges(recorded: FileIdentity, now: FileIdentity): string[] {
  return FIELDS.filter((f) => recorded[f] !== now[f]).map((f) => NAMES[f]);
}

/** The identity may be trusted later: unchanged while hashed, and not modified within `marginMs` of the hash starting. */
export function settled(before: FileIdentity, after: FileIdentity, hashStartedMs: number, marginMs = RACY_MARGIN_MS): boolean {
  if (identityChanges(before, after).length > 0) return false;
  const newest = BigInt(after.mtimeNs) > BigInt(after.ctimeNs) ? after.mtimeNs : after.ctimeNs;
  return Number(BigInt(newest) / 1_000_000n) < hashStartedMs - marginMs;
}

export function isIdentity(x: unknown): x is FileIdentity {
  return typeof x === 'object' && x !== null && FIELDS.every((f) => typeof (x as Record<string, unknown>)[f] === 'string');
}
