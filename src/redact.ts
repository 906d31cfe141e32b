/**
 * Secret scrubbing for anything that leaves the process: log lines, status,
 * argv listings. Values are replaced wherever they occur, and `--api-key X`
 * style pairs are masked even when the value is not known in advance.
 */

export const REDACTED = '[redacted]';

const SECRET_FLAGS = new Set(['--api-key', '--api-key-file', '--hf-token', '-hft', '--ssl-key-file']);

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
