/**
 * Reading the config file named by AUTO_INFER_LLAMA_CPP_CONFIG (or given on the
 * command line) and turning it into a LoadedConfig, or one error holding every
 * problem. File checks of single instances (a missing model) are NOT done here:
 * they fail that instance at start time (check-files.ts), not the whole daemon.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MissingInputError, errnoCode } from '../errors.js';
import type { Paths } from '../paths.js';
import { parseConfig } from './parse.js';
import { ConfigInvalidError } from './problem.js';
import type { LoadedConfig } from './types.js';

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
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    const code = errnoCode(error);
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code ?? String(error)})`;
    throw new MissingInputError('E_CONFIG_NOT_FOUND', `config file ${absolute} ${why}`, {
      hint: 'set AUTO_INFER_LLAMA_CPP_CONFIG (or pass FILE) to the path of a readable TOML file; see docs/config.md',
      cause: error,
    });
  }
  const installed = path.join(o.paths.install, 'bin', 'llama-server');
  const exists = o.fsChecks === false ? (p: string) => p === installed : existsSync;
  const { config, problems, partial } = parseConfig(text, absolute, { env: o.env, paths: o.paths, exists });
  if (!config) throw ConfigInvalidError.forFile(absolute, problems, partial);
  return config;
}
