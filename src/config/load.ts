/**
 * Reading the config file named by AUTO_INFER_LLAMA_CPP_CONFIG (or given on the
 * command line) and turning it into a LoadedConfig, or one error holding every
 * problem. File checks of single instances (a missing model) are NOT done for a
 * valid config: they fail that instance at start time (check-files.ts), not the
 * whole daemon. An invalid config gets them too, so one run shows every problem.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Paths } from '../paths.js';
import { fileProblems } from './file-problems.js';
import { parseConfig, sortProblems } from './parse.js';
import { readConfigFile } from './read-config-file.js';
import { ConfigInvalidError } from './problem.js';
import type { LoadedConfig } from './types.js';

export interface LoadOptions {
  env: NodeJS.ProcessEnv;
  paths: Paths;
  /**
   * true (default): look at the file system to pick the default executable
   * (the install's llama-server, else llama-server on PATH) and its library
   * directories. false: assume the install is where it will be in the
   * container, for validating on a machine without it; the file checks of an
   * invalid config are skipped too.
   */
  fsChecks?: boolean;
}

export async function loadConfig(file: string, o: LoadOptions): Promise<LoadedConfig> {
  const absolute = path.resolve(file);
  const read = await readConfigFile(absolute);
  if (read.problem) throw ConfigInvalidError.forFile(absolute, [read.problem]);
  const text = read.text;
  const installed = path.join(o.paths.install, 'bin', 'llama-server');
  const exists = o.fsChecks === false ? (p: string) => p === installed : existsSync;
  const { config, problems, partial } = parseConfig(text, absolute, { env: o.env, paths: o.paths, exists });
  if (!config) {
    const files = o.fsChecks === false ? [] : await fileProblems({ file: absolute, text, instances: partial ?? [], env: o.env });
    throw ConfigInvalidError.forFile(absolute, sortProblems([...problems, ...files]));
  }
  return config;
}
