import { createGunzip, type Gunzip } from 'node:zlib';

/** Large inflate chunks: fewer hand-overs from the thread pool; the tar parser still gets 256 KiB at a time. */
export function tarGunzip(): Gunzip {
  return createGunzip({ chunkSize: 1024 * 1024 });
}
