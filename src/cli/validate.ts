/**
 * `infer-entry validate [FILE] [--json] [--no-fs-checks] [--print-commands]`:
 * every problem of a config file at once, as `file:line:col key: message`.
 */
import type { Command } from './command.js';
import { fileProblems } from '../config/file-problems.js';
import { argWarnings, describeOrigin } from '../config/llama-arg-env.js';
import { loadConfig } from '../config/load.js';
import { ConfigInvalidError, formatProblem, problemJson, UNSAFE_FOR_TERMINAL, type ConfigProblem } from '../config/problem.js';
import { readConfigFile } from '../config/read-config-file.js';
import type { InstanceSpec, LoadedConfig } from '../config/types.js';
import { ENV } from '../env.js';
import { ExitCode, InferEntryError, UsageError } from '../errors.js';
import { REDACTED, redactArgv, redactText } from '../redact.js';

/** What problems escape too (config/problem.ts): controls, line separators, bidi controls. */
const UNPRINTABLE = new RegExp(UNSAFE_FOR_TERMINAL.source);

function escapeChar(c: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\\': '\\\\', "'": "\\'" };
  if (named[c]) return named[c];
  const code = c.codePointAt(0)!;
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Quote for a POSIX shell only when needed, so the printed commands stay readable
 * and copy-pasteable; an argument holding control characters uses bash's
 * $'...' with escapes, so printing it never moves the cursor, rings, or hides text.
 */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  if (UNPRINTABLE.test(arg)) return `$'${Array.from(arg, (c) => (UNPRINTABLE.test(c) || c === '\\' || c === "'" ? escapeChar(c) : c)).join('')}'`;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Text for a comment line: control characters escaped as in JSON. */
// JSON has escaped the C0 controls already; the rest of the class is escaped here
const printable = (text: string): string => (UNPRINTABLE.test(text) ? JSON.stringify(text).slice(1, -1).replace(UNSAFE_FOR_TERMINAL, escapeChar) : text);

/** What a user may see of an instance: argv and env with every secret replaced. */
export function redactedInstance(spec: InstanceSpec) {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(spec.env)) {
    env[key] = spec.secrets.includes(value) ? REDACTED : redactText(value, spec.secrets);
  }
  return {
    name: spec.name,
    enabled: spec.enabled,
    executable: spec.executable,
    args: redactArgv(spec.args, spec.secrets),
    env,
    envRemove: spec.envRemove,
    host: spec.host,
    port: spec.port,
    probeHost: spec.probeHost,
    model: spec.model ?? null,
    logFile: spec.logFile ?? null,
    supervision: spec.supervision,
    ...(spec.argOrigins ? { argOrigins: spec.argOrigins } : {}),
  };
}

/** `env -u X K=V ... llama-server ARGS`: runnable as printed (once secrets are filled in). */
export function commandLine(spec: InstanceSpec): string {
  const shown = redactedInstance(spec);
  const parts = ['env', ...spec.envRemove.flatMap((name) => ['-u', name])];
  for (const [key, value] of Object.entries(shown.env)) parts.push(`${key}=${shellQuote(value)}`);
  parts.push(shellQuote(spec.executable), ...shown.args.map(shellQuote));
  return parts.join(' ');
}

/** The file checks of a valid config (an invalid one comes with them from the loader). */
async function validConfigFileProblems(config: LoadedConfig, env: NodeJS.ProcessEnv): Promise<ConfigProblem[]> {
  const text = (await readConfigFile(config.file).catch(() => undefined))?.text ?? '';
  return fileProblems({ file: config.file, text, instances: config.instances, env });
}

export const command: Command = {
  name: 'validate',
  summary: 'check an instance config file and print every problem',
  help: `Usage: infer-entry validate [FILE] [--json] [--no-fs-checks] [--print-commands]

Check the TOML file of llama-server instances (default: $${ENV.CONFIG}) and
print every problem at once, one per line:
  file:line:col key.path: what is wrong (expected X, got Y)
The ${ENV.OVERRIDES} JSON is merged over the file first, as at boot.

Options:
  --json            one JSON object on stdout: {file, valid, problems, instances}
  --no-fs-checks    skip the file checks (model files readable, llama-server
                    executable, log directory writable), e.g. on a machine
                    without the models; the install is assumed in its place
  --print-commands  print the command line and environment each instance
                    would get (secrets redacted)

Exit status: 0 valid, 78 invalid, 66 the file does not exist or cannot be read, 64 no FILE
given and AUTO_INFER_LLAMA_CPP_CONFIG not set.
Keys, defaults and examples: docs/config.md.`,
  options: {
    json: { type: 'boolean' },
    'no-fs-checks': { type: 'boolean' },
    'print-commands': { type: 'boolean' },
  },
  allowPositionals: true,
  async run(ctx) {
    if (ctx.positionals.length > 1) throw new UsageError(`validate takes one FILE, got ${ctx.positionals.length}`);
    const file = ctx.positionals[0] ?? ctx.env[ENV.CONFIG];
    if (!file || file.trim() === '') {
      throw new UsageError(`no config file given: pass FILE or set ${ENV.CONFIG}`);
    }
    const json = ctx.values.json === true;
    const fsChecks = ctx.values['no-fs-checks'] !== true;
    const write = (text: string) => ctx.stdout.write(text);

    let config: LoadedConfig;
    try {
      config = await loadConfig(file, { env: ctx.env, paths: ctx.paths, fsChecks });
    } catch (error) {
      if (error instanceof ConfigInvalidError) {
        // Every problem at once: the loader adds the file checks of every instance (unless --no-fs-checks).
        const target = error.file;
        const all = error.problems;
        if (json) {
          write(`${JSON.stringify({ file: target, valid: false, problems: all.map(problemJson) })}\n`);
        } else {
          for (const p of all) write(`${formatProblem(p)}\n`);
          write(`${target}: invalid, ${all.length} problem${all.length === 1 ? '' : 's'}\n`);
        }
        return ExitCode.CONFIG;
      }
      if (json && error instanceof InferEntryError) {
        write(`${JSON.stringify({ file, valid: false, error: { code: error.code, message: error.message, hint: error.hint } })}\n`);
        return error.exitCode;
      }
      throw error;
    }

    for (const w of argWarnings(config.instances)) ctx.log.warn({ instance: w.instance, variable: w.variable }, w.message);
    const problems = fsChecks ? await validConfigFileProblems(config, ctx.env) : [];
    const valid = problems.length === 0;
    if (json) {
      write(`${JSON.stringify({ file: config.file, valid, enable: config.enable, problems: problems.map(problemJson), instances: config.instances.map(redactedInstance) })}\n`);
      return valid ? ExitCode.OK : ExitCode.CONFIG;
    }
    for (const p of problems) write(`${formatProblem(p)}\n`);
    if (ctx.values['print-commands'] === true) {
      for (const spec of config.instances) {
        write(printable(`# ${spec.name} (${spec.enabled ? 'enabled' : 'disabled'}; probed at http://${spec.probeHost.includes(':') ? `[${spec.probeHost}]` : spec.probeHost}:${spec.port}${spec.supervision.health.path}${spec.logFile ? `; log ${spec.logFile}` : ''})`) + '\n');
        if (spec.argOrigins && spec.argOrigins.length > 0) write(printable(`#   ${spec.argOrigins.map(describeOrigin).join('; ')}`) + '\n');
        write(`${commandLine(spec)}\n`);
      }
    }
    const names = config.instances.map((s) => `${s.name}${s.enabled ? '' : ' (disabled)'}`).join(', ');
    const count = `${config.instances.length} instance${config.instances.length === 1 ? '' : 's'}`;
    if (!valid) {
      write(`${config.file}: invalid, ${problems.length} file problem${problems.length === 1 ? '' : 's'} (${count}: ${names || 'none'}; --no-fs-checks skips these checks)\n`);
      return ExitCode.CONFIG;
    }
    const off = config.enable ? '' : ' — master.enable = false: nothing will be launched';
    write(`${config.file}: valid, ${count}${names ? `: ${names}` : ''}${off}\n`);
    return ExitCode.OK;
  },
};
