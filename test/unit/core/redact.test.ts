import { describe, expect, it } from 'vitest';
import { REDACTED, redactArgv, redactText } from '../../../src/redact.js';

describe('redaction', () => {
  it('masks the value after a secret flag even when the value is unknown', () => {
    expect(redactArgv(['-m', 'x.gguf', '--api-key', 'sk-123456', '--port', '8080'])).toEqual([
      '-m', 'x.gguf', '--api-key', REDACTED, '--port', '8080',
    ]);
  });

  it('masks --flag=value forms', () => {
    expect(redactArgv(['--api-key=sk-abcdef', '--hf-token=hf_zzzz'])).toEqual([`--api-key=${REDACTED}`, `--hf-token=${REDACTED}`]);
  });

  it('masks known secret values wherever they appear in text', () => {
    expect(redactText('auth failed for key sk-live-9999 (sk-live-9999)', ['sk-live-9999'])).toBe(
      `auth failed for key ${REDACTED} (${REDACTED})`,
    );
  });

  it('leaves very short values alone so ordinary text is not mangled', () => {
    expect(redactText('a b c', ['a'])).toBe('a b c');
  });
});
