/**
 * Secret scrubbing of a byte stream as it is read, chunk by chunk, before any
 * sink sees it: the same rule as redactText (every occurrence of each secret of
 * 4 characters or more, secrets in order), but on Buffers, and correct when a
 * secret is split across two chunks: a tail that could begin a secret is held
 * back (at most the longest secret's length − 1 bytes) until the next chunk.
 */
import { REDACTED } from '../redact.js';

const REDACTED_BYTES = Buffer.from(REDACTED);

export class ChunkRedactor {
  #secrets: Buffer[] = [];
  #held: Buffer | null = null;

  setSecrets(secrets: readonly string[]): void {
    this.#secrets = secrets.filter((s) => s.length >= 4).map((s) => Buffer.from(s, 'utf8'));
  }

  /** True when there is nothing to scrub: chunks may go to the sinks as they are. */
  get idle(): boolean {
    return this.#secrets.length === 0 && this.#held === null;
  }

  /** The part of what was read so far that can be shown (redacted); may be empty. */
  push(chunk: Buffer): Buffer {
    let data = this.#held === null ? chunk : Buffer.concat([this.#held, chunk]);
    this.#held = null;
    for (const secret of this.#secrets) data = replaceAll(data, secret);
    const keep = secretPrefixAtEnd(data, this.#secrets);
    if (keep === 0) return data;
    this.#held = data.subarray(data.length - keep);
    return data.subarray(0, data.length - keep);
  }

  /** End of the stream: what was held back is no secret after all. */
  end(): Buffer {
    const held = this.#held ?? Buffer.alloc(0);
    this.#held = null;
    return held;
  }
}

function replaceAll(data: Buffer, secret: Buffer): Buffer {
  let at = data.indexOf(secret);
  if (at === -1) return data;
  const parts: Buffer[] = [];
  let start = 0;
  while (at !== -1) {
    parts.push(data.subarray(start, at), REDACTED_BYTES);
    start = at + secret.length;
    at = data.indexOf(secret, start);
  }
  parts.push(data.subarray(start));
  return Buffer.concat(parts);
}

/** Length of the longest tail of `data` that is the beginning (not the whole) of a secret. */
function secretPrefixAtEnd(data: Buffer, secrets: readonly Buffer[]): number {
  let longest = 0;
  for (const secret of secrets) {
    for (let n = Math.min(secret.length - 1, data.length); n > longest; n--) {
      if (data[data.length - n] === secret[0] && data.subarray(data.length - n).equals(secret.subarray(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
