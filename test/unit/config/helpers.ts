import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolvePaths, type Paths } from '../../../src/paths.js';
import { parseConfig, type ParseResult } from '../../../src/config/parse.js';
import type { LoadedConfig } from '../../../src/config/types.js';

export const ROOT = '/opt/test-root';
export const paths: Paths = resolvePaths({ INFER_ENTRY_ROOT: ROOT });
export const INSTALLED = `${ROOT}/llama-cpp/bin/llama-server`;

/** Parse with the install present (the normal container case) unless told otherwise. */
export function parse(text: string, env: NodeJS.ProcessEnv = {}, exists: (p: string) => boolean = (p) => p === INSTALLED): ParseResult {
  return parseConfig(text, 'test.toml', { env, paths, exists });
}

export function parseOk(text: string, env: NodeJS.ProcessEnv = {}, exists?: (p: string) => boolean): LoadedConfig {
  const { config, problems } = parse(text, env, exists);
  if (!config) throw new Error(`expected a valid config, got:\n${problems.map((p) => `${p.line}:${p.column} ${p.path.join('.')}: ${p.message}`).join('\n')}`);
  return config;
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'infer-entry-config-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
