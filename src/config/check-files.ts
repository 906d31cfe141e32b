/**
 * File checks of one instance, separate from the schema: the supervisor runs
 * them before each spawn (a missing model fails that instance only, with a
 * clear reason instead of a llama-server crash), `validate` runs them unless
 * --no-fs-checks.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { findOnPath } from '../find-on-path.js';
import type { ConfigProblem, KeyPath, ProblemSubject } from './problem.js';
import type { InstanceSpec } from './types.js';

export interface CheckFilesOptions {
  /** Label for the problems' `file` field (validate passes the config path). Default 'config'. */
  file?: string;
  /** Create a missing log directory, as the old launcher did (`mkdir -p`). Default true; validate passes false. */
  create?: boolean;
  /** For looking up a bare executable name on PATH. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

const SHARD = /-(\d{5})-of-(\d{5})\.gguf$/;

async function canAccess(p: string, mode: number): Promise<boolean> {
  try {
    await access(p, mode);
    return true;
  } catch {
    return false;
  }
}

async function statOrUndefined(p: string) {
  try {
    return await stat(p);
  } catch {
    return undefined;
  }
}

/** Why `p` cannot be read as a regular file, or undefined when it can. */
async function unreadableFile(p: string): Promise<string | undefined> {
  const info = await statOrUndefined(p);
  if (!info) return 'does not exist';
  if (!info.isFile()) return 'is not a regular file';
  if (!(await canAccess(p, constants.R_OK))) return 'is not readable by this user';
  return undefined;
}

async function checkModel(model: string): Promise<string | undefined> {
  const why = await unreadableFile(model);
  if (why) return `model file ${model} ${why} (expected a readable .gguf file; mount the models directory or fix the path)`;
  const shard = SHARD.exec(model);
  if (!shard) return undefined;
  const [, index, total] = shard;
  if (index !== '00001') {
    return `model ${model} is shard ${Number(index)} of a split model (expected the first shard, ${path.basename(model).replace(SHARD, `-00001-of-${total}.gguf`)})`;
  }
  const missing: string[] = [];
  for (let n = 2; n <= Number(total); n++) {
    const part = model.replace(SHARD, `-${String(n).padStart(5, '0')}-of-${total}.gguf`);
    if (await unreadableFile(part)) missing.push(path.basename(part));
  }
  if (missing.length > 0) {
    return `split model ${model} is incomplete: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} missing or unreadable (expected all ${Number(total)} shards next to the first)`;
  }
  return undefined;
}

async function checkExecutable(executable: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (!executable.includes('/')) {
    if (findOnPath(executable, env) !== undefined) return undefined;
    return `llama-server executable "${executable}" is not on PATH and not installed (expected an installed llama.cpp package — see 'infer-entry install' — or master.llama_cpp_path)`;
  }
  const info = await statOrUndefined(executable);
  if (!info) return `llama-server executable ${executable} does not exist (expected an installed llama.cpp package or a correct master.llama_cpp_path)`;
  if (!info.isFile()) return `llama-server executable ${executable} is not a regular file`;
  if (!(await canAccess(executable, constants.X_OK))) return `llama-server executable ${executable} is not executable (expected mode +x)`;
  return undefined;
}

async function checkLogFile(logFile: string, create: boolean): Promise<string | undefined> {
  const dir = path.dirname(logFile);
  const dirInfo = await statOrUndefined(dir);
  if (!dirInfo) {
    if (create) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (error) {
        return `log directory ${dir} cannot be created: ${(error as Error).message}`;
      }
    } else {
      let ancestor = path.dirname(dir);
      while (!(await statOrUndefined(ancestor)) && ancestor !== path.dirname(ancestor)) ancestor = path.dirname(ancestor);
      if (!(await canAccess(ancestor, constants.W_OK | constants.X_OK))) return `log directory ${dir} does not exist and cannot be created (${ancestor} is not writable)`;
      return undefined;
    }
  } else if (!dirInfo.isDirectory()) {
    return `log directory ${dir} is not a directory`;
  }
  const fileInfo = await statOrUndefined(logFile);
  if (fileInfo) {
    if (!fileInfo.isFile()) return `log file ${logFile} is not a regular file`;
    if (!(await canAccess(logFile, constants.W_OK))) return `log file ${logFile} is not writable`;
  } else if (!(await canAccess(dir, constants.W_OK | constants.X_OK))) {
    return `log directory ${dir} is not writable`;
  }
  return undefined;
}

export async function checkInstanceFiles(spec: InstanceSpec, options: CheckFilesOptions = {}): Promise<ConfigProblem[]> {
  const file = options.file ?? 'config';
  const problems: ConfigProblem[] = [];
  const add = (subject: ProblemSubject, path: KeyPath, sharedPath: KeyPath | undefined, message: string | undefined) => {
    if (message) problems.push({ file, line: undefined, column: undefined, path, ...(sharedPath ? { sharedPath } : {}), message, kind: 'fs', subject, instance: spec.name });
  };
  add('executable', ['master', 'llama_cpp_path'], undefined, await checkExecutable(spec.executable, options.env ?? process.env));
  if (spec.model !== undefined) {
    add('model', ['instance', spec.name, 'server', 'model'], ['instance', 'server', 'model'], await checkModel(spec.model));
  }
  if (spec.logFile !== undefined) {
    const message = await checkLogFile(spec.logFile, options.create ?? true);
    add('log-file', ['instance', spec.name, 'control', 'log_file'], ['instance', 'control', 'log_file'], message);
  }
  return problems;
}
