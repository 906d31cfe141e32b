import { describe, expect, it } from 'vitest';
import { checkLinksStayInside, resolveInTree, safeEntryPath } from '../../../src/installer/entry-guard.js';
import { detectFormatFromHeader, formatFromExtension, tarChecksumValid } from '../../../src/installer/format.js';
import { DEFAULT_MAX_BYTES, parseMaxBytes } from '../../../src/installer/limits.js';
import { tarHeader } from '../../fixtures/installer/archive-builder.js';

describe('entry names', () => {
  it('normalises harmless names and refuses absolute and .. names, naming the entry', () => {
    expect(safeEntryPath('./bin//llama-server')).toBe('bin/llama-server');
    expect(safeEntryPath('llama-b1/')).toBe('llama-b1');
    expect(() => safeEntryPath('/etc/passwd')).toThrow(/"\/etc\/passwd" has an absolute path/);
    expect(() => safeEntryPath('C:\\x')).toThrow(/absolute/);
    expect(() => safeEntryPath('bin/../../x')).toThrow(/"bin\/..\/..\/x" contains '..'/);
    expect(() => safeEntryPath('a\\..\\..\\x')).toThrow(/contains '..'/);
  });
});

describe('symlink resolution inside the tree', () => {
  const links = (o: Record<string, string>) => new Map(Object.entries(o));
  it('follows chains like the kernel, including .. after a link', () => {
    expect(resolveInTree('bin/libllama.so', links({ 'bin/libllama.so': 'libllama.so.0' }))).toBe('bin/libllama.so.0');
    expect(resolveInTree('a/x', links({ 'a/x': '../b/y', 'b/y': 'z' }))).toBe('b/z');
    // sub/d -> .. is the root; e -> sub/d/.. leaves it although it looks harmless lexically
    expect(resolveInTree('e', links({ 'sub/d': '..', e: 'sub/d/..' }))).toBeNull();
    expect(resolveInTree('x', links({ x: '/etc' }))).toBeNull();
  });
  it('reports loops and the first escaping link', () => {
    expect(resolveInTree('a', links({ a: 'b', b: 'a' }))).toBeNull();
    expect(() => checkLinksStayInside(links({ ok: 'bin', 'bin/bad': '../../x' }))).toThrow(/"bin\/bad" is a symlink to "..\/..\/x"/);
  });
});

describe('format detection by magic bytes', () => {
  it('knows gzip, zip, ustar and old v7 tar; not by extension', () => {
    expect(detectFormatFromHeader(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('tar.gz');
    expect(detectFormatFromHeader(Buffer.from('PK\x03\x04rest', 'latin1'))).toBe('zip');
    const ustar = tarHeader({ name: 'bin/llama-server', mode: 0o755, size: 0, typeflag: '0' });
    expect(detectFormatFromHeader(ustar)).toBe('tar');
    const v7 = Buffer.from(ustar);
    v7.fill(0, 257, 265);
    let sum = 0;
    v7.fill(0x20, 148, 156);
    for (const b of v7) sum += b;
    v7.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    expect(tarChecksumValid(v7)).toBe(true);
    expect(detectFormatFromHeader(v7)).toBe('tar');
    expect(detectFormatFromHeader(Buffer.from('Rar!\x1a\x07'))).toBeNull();
    expect(formatFromExtension('x.TGZ')).toBe('tar.gz');
    expect(formatFromExtension('x.7z')).toBeNull();
  });
});

describe('AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES', () => {
  it('accepts bytes and binary suffixes, defaults when unset, refuses garbage with exit 78', () => {
    expect(parseMaxBytes({})).toBe(DEFAULT_MAX_BYTES);
    expect(parseMaxBytes({ AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES: '1048576' })).toBe(1048576);
    expect(parseMaxBytes({ AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES: '8G' })).toBe(8 * 1024 ** 3);
    expect(parseMaxBytes({ AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES: '512MiB' })).toBe(512 * 1024 ** 2);
    expect(() => parseMaxBytes({ AUTO_INFER_LLAMA_CPP_PKG_MAX_BYTES: 'lots' })).toThrow(expect.objectContaining({ exitCode: 78, code: 'E_PKG_MAX_BYTES' }));
  });
});
