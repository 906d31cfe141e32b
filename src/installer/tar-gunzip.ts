import { createGunzip, type Gunzip } from 'node:zlib';

/**
 * Large inflate chunks: fewer hand-overs from the thread pool; the tar parser still gets 256 KiB at a time.
 *
 * Corrupt data fails the gunzip as soon as the copy writes it, which may be before the extraction
 * reads from it: the error reaches the copy through its write callback and the extraction through
 * the stream's errored state, so the listener here only keeps an 'error' nobody listens to yet
 * from becoming an uncaught exception (which, in the daemon, is PID 1's).
 */
export function tarGunzip(): Gunzip {
  const gunzip = createGunzip({ chunkSize: 1024 * 1024 });
  gunzip.on('error', () => undefined);
  return gunzip;
}
