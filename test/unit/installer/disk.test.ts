import { describe, expect, it } from 'vitest';
import { ensureFreeSpace, writeFailure } from '../../../src/installer/disk.js';

const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });

describe('disk space errors', () => {
  it('a write failing with ENOSPC becomes exit 74 saying how much space is needed', async () => {
    const e = await writeFailure(enospc, async () => 10 * 1024 * 1024, '/r/.llama-cpp-releases', 300 * 1024 * 1024, 'extract the package');
    expect(e).toMatchObject({ code: 'E_NO_SPACE', exitCode: 74 });
    expect(e.message).toBe('not enough free space in /r/.llama-cpp-releases to extract the package: needs 300 MiB, 10 MiB free');
    expect(e.hint).toContain('free at least 290 MiB');
  });

  it('other write failures are I/O errors (74) naming the directory', async () => {
    const eio = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    const e = await writeFailure(eio, async () => 0, '/r/cache', 1, 'cache x.tar.gz');
    expect(e).toMatchObject({ code: 'E_IO', exitCode: 74 });
    expect(e.message).toContain('/r/cache');
  });

  it('checks free space plus the reserve before writing', async () => {
    await expect(ensureFreeSpace(async () => 100, '/r', 50, 40, 'cache x')).resolves.toBeUndefined();
    await expect(ensureFreeSpace(async () => 100, '/r', 50, 60, 'cache x')).rejects.toMatchObject({ code: 'E_NO_SPACE', exitCode: 74 });
  });
});
