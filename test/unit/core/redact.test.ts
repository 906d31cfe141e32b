import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';
import { REDACTED, SECRET_SETTINGS, redactArgv, redactText } from '../../../src/redact.js';
import { paths } from '../config/helpers.js';

describe('redaction', () => {
  it('masks the value after a secret flag even when the value is unknown', () => {
    expect(redactArgv(['-m', 'x.gguf', '--api-key', 'sk-123456', '--port', '8080'])).toEqual([
      '-m', 'x.gguf', '--api-key', REDACTED, '--port', '8080',
    ]);
  });

  it('masks --flag=value forms', () => {
    expect(redactArgv(['--api-key=sk-abcdef', '--hf-token=hf_zzzz'])).toEqual([`--api-key=${REDACTED}`, `--hf-token=${REDACTED}`]);
  });

  it('every flag of a secret setting is masked in argv listings and refused in extra_args, and the setting goes to its variable', () => {
    for (const setting of SECRET_SETTINGS) {
      for (const flag of setting.flags) {
        expect(redactArgv([flag, 'value-1234'])).toEqual([flag, REDACTED]);
        const refused = parseConfig(`[instance.a.server]\nmodel = "/m.gguf"\nextra_args = ["${flag}", "value-1234"]\n`, 't.toml', { env: {}, paths });
        expect(refused.problems.map((p) => p.message).join('\n')).toContain(`${flag} must not be on the command line`);
      }
      const config = parseConfig(`[instance.a.server]\nmodel = "/m.gguf"\n${setting.key} = "value-5678"\n`, 't.toml', { env: {}, paths }).config!;
      expect(config.instances[0]!.env[setting.env]).toBe('value-5678');
      expect(config.instances[0]!.args.join(' ')).not.toContain('value-5678');
    }
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
