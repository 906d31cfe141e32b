// The gunzip the cache copy writes a tar.gz into: corrupt data fails it before the extraction may
// have started reading, and that must reach it as an error, never become an uncaught one.
import { gzipSync } from 'node:zlib';

import { describe, expect, it } from 'vitest';

import { tarGunzip } from '../../../src/installer/tar-gunzip.js';

describe('tar.gz gunzip', () => {
  it('fails, and its later reader with it, on corrupt data, with nothing uncaught in between', async () => {
    const data = gzipSync(Buffer.alloc(64 * 1024, 7));
    for (let i = 20; i < 60; i++) data[i] = data[i]! ^ 0xff;
    const gunzip = tarGunzip();
    // (zlib does not call a write's callback when it fails: the copy learns it from the extraction.)
    gunzip.write(data);
    // The extraction comes to read only now (it was still making its staging directory).
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(gunzip.errored).toMatchObject({ code: 'Z_DATA_ERROR' });
    const read = (async () => {
      for await (const _ of gunzip) void _;
    })();
    await expect(read).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });
});
