/**
 * Reading the config file without ever blocking the daemon: PID 1 reads it at
 * boot, on reload and on SIGHUP, and an open() of a FIFO waits for a writer
 * forever while /dev/zero never ends. The file is opened non-blocking, checked
 * with fstat on the open descriptor (no window between check and read), and
 * read up to a size cap. Bytes that are not UTF-8 are a TOML syntax error.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { ConfigError, MissingInputError, errnoCode } from '../errors.js';
import type { ConfigProblem } from './problem.js';

/** A config of megabytes is a mistake (a wrong file, a generated loop): 1 MiB holds thousands of instances. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const HINT = 'set AUTO_INFER_LLAMA_CPP_CONFIG (or pass FILE) to the path of a readable TOML file; see docs/config.md';

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export type ConfigText = { text: string; problem?: undefined } | { text?: undefined; problem: ConfigProblem };

/** The file's text, or a syntax problem (invalid UTF-8) with its line; throws for a file that cannot be used at all. */
export async function readConfigFile(absolute: string, maxBytes = MAX_CONFIG_BYTES): Promise<ConfigText> {
  let handle;
  try {
    handle = await open(absolute, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = errnoCode(error);
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code ?? String(error)})`;
    throw new MissingInputError('E_CONFIG_NOT_FOUND', `config file ${absolute} ${why}`, { hint: HINT, cause: error });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new MissingInputError('E_CONFIG_NOT_FILE', `config file ${absolute} is ${kindOf(st)}, not a regular file`, { hint: HINT });
    }
    if (st.size > maxBytes) throw tooBig(absolute, st.size, maxBytes);
    // The size can change between fstat and read: never read more than the cap + 1.
    const buffer = Buffer.allocUnsafe(Math.min(st.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) {
        if (length > maxBytes) throw tooBig(absolute, length, maxBytes);
        break;
      }
    }
    const bytes = buffer.subarray(0, length);
    if (!isUtf8(bytes)) return { problem: invalidUtf8Problem(absolute, bytes) };
    return { text: bytes.toString('utf8') };
  } catch (error) {
    if (error instanceof MissingInputError || error instanceof ConfigError) throw error;
    throw new MissingInputError('E_CONFIG_NOT_FOUND', `config file ${absolute} cannot be read (${errnoCode(error) ?? String(error)})`, { hint: HINT, cause: error });
  } finally {
    await handle.close();
  }
}

function tooBig(file: string, size: number, maxBytes: number): ConfigError {
  return new ConfigError('E_CONFIG_TOO_BIG', `config file ${file} is over ${maxBytes} bytes (${size} bytes), more than a config of instances can need`, {
    hint: 'check that AUTO_INFER_LLAMA_CPP_CONFIG names the right file; the limit is 1 MiB',
  });
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence (the input is known invalid). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    if (need > 0) {
      // Overlongs, surrogates and code points above U+10FFFF are refused through the second byte's range.
      const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
      const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
      for (let k = 1; k <= need; k++) {
        const c = bytes[i + k];
        if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
      }
    }
    i += need + 1;
  }
  return bytes.length;
}

function invalidUtf8Problem(file: string, bytes: Uint8Array): ConfigProblem {
  const at = firstInvalidUtf8(bytes);
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < at; k++) {
    if (bytes[k] === 0x0a) {
      line++;
      lineStart = k + 1;
    }
  }
  const column = Buffer.from(bytes.subarray(lineStart, at)).toString('utf8').length + 1;
  const hex = Array.from(bytes.subarray(at, at + 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return { file, line, column, path: [], subject: 'toml', message: `TOML syntax error: the file is not valid UTF-8 (bytes ${hex}); TOML files must be UTF-8 — re-save it as UTF-8`, kind: 'syntax' };
}
