/**
 * Secret scrubbing for anything that leaves the process: log lines, status,
 * argv listings. Values are replaced wherever they occur, and `--api-key X`
 * style pairs are masked even when the value is not known in advance.
 */

export const REDACTED = '[redacted]';

/**
 * The secrets of llama-server, one table for everything that must know them: the config key a user
 * writes it as, the variable infer-entry passes it through (never argv), and the flags that would
 * carry it on a command line (refused in extra_args, masked in any argv shown).
 */
export const SECRET_SETTINGS = [
  { key: 'api_key', env: 'LLAMA_API_KEY', flags: ['--api-key'] },
  { key: 'hf_token', env: 'HF_TOKEN', flags: ['--hf-token', '-hft'] },
] as const;

/** Flags naming a file that holds a secret: the path is masked too, it says where the secret is. */
const SECRET_FILE_FLAGS = ['--api-key-file', '--ssl-key-file'];

const SECRET_FLAGS: ReadonlySet<string> = new Set([...SECRET_SETTINGS.flatMap((s) => s.flags), ...SECRET_FILE_FLAGS]);

/** The secret setting a config key names (`api_key`, also written `api-key`), if any. */
export function secretSettingOf(key: string): (typeof SECRET_SETTINGS)[number] | undefined {
  const normalized = key.replace(/-/g, '_');
  return SECRET_SETTINGS.find((s) => s.key === normalized);
}

/** Replace every occurrence of each secret value (ignores values shorter than 4 chars, which would mangle text). */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** Mask the values of secret-bearing flags (`--api-key X`, `--api-key=X`) and any known secret. */
export function redactArgv(argv: readonly string[], secrets: readonly string[] = []): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    if (eq > 0 && SECRET_FLAGS.has(arg.slice(0, eq))) {
      out.push(`${arg.slice(0, eq)}=${REDACTED}`);
      continue;
    }
    out.push(redactText(arg, secrets));
    if (SECRET_FLAGS.has(arg) && i + 1 < argv.length) {
      out.push(REDACTED);
      i++;
    }
  }
  return out;
}
