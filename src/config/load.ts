/**
 * Reading the config file named by AUTO_INFER_LLAMA_CPP_CONFIG (or given on the
 * command line) and turning it into a LoadedConfig, or one error holding every
 * problem. File checks of single instances (a missing model) are NOT done here:
 * they fail that instance at start time (check-files.ts), not the whole daemon.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { Paths } from '../paths.js';
import { parseConfig } from './parse.js';
import { readConfigFile } from './read-config-file.js';
import type { ConfigProblem, InstanceSpec, LoadedConfig } from './types.js';

export class ConfigInvalidError extends ConfigError {
  readonly problems: ConfigProblem[];
  /** Instances without problems of their own (validate still checks their files). */
  readonly partial: InstanceSpec[];

  constructor(file: string, problems: ConfigProblem[], partial: InstanceSpec[] = []) {
    const first = problems[0] ? formatProblem(problems[0]) : file;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    super('E_CONFIG_INVALID', `invalid config ${file}: ${first}${more}`, {
      hint: `run 'infer-entry validate ${file}' to see every problem`,
      details: { file, problems },
    });
    this.problems = problems;
    this.partial = partial;
  }
}

/** `file:line:col key.path: message (expected X, got Y)`; without a place (overrides variable): `file: key.path: message`. */
export function formatProblem(p: ConfigProblem): string {
  if (p.line === undefined) return p.key ? `${p.file}: ${p.key}: ${p.message}` : `${p.file}: ${p.message}`;
  const place = `${p.file}:${p.line}:${p.column ?? 1}`;
  return p.key ? `${place} ${p.key}: ${p.message}` : `${place}: ${p.message}`;
}

export interface LoadOptions {
  env: NodeJS.ProcessEnv;
  paths: Paths;
  /**
   * true (default): look at the file system to pick the default executable
   * (the install's llama-server, else llama-server on PATH) and its library
   * directories. false: assume the install is where it will be in the
   * container, for validating on a machine without it.
   */
  fsChecks?: boolean;
}

export async function loadConfig(file: string, o: LoadOptions): Promise<LoadedConfig> {
  const absolute = path.resolve(file);
  const read = await readConfigFile(absolute);
  if (read.problem) throw new ConfigInvalidError(absolute, [read.problem]);
  const text = read.text;
  const installed = path.join(o.paths.install, 'bin', 'llama-server');
  const exists = o.fsChecks === false ? (p: string) => p === installed : existsSync;
  const { config, problems, partial } = parseConfig(text, absolute, { env: o.env, paths: o.paths, exists });
  if (!config) throw new ConfigInvalidError(absolute, problems, partial);
  return config;
}
