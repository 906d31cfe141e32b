/**
 * What the config loader process sends survives structured clone (its IPC channel's 'advanced'
 * serialization): a loaded config, the typed problems of an invalid one, and an error's code, exit
 * status and hint.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ExitCode, InferEntryError } from '../../../src/errors.js';
import { loadConfig } from '../../../src/config/load.js';
import { rebuiltError, sendableError } from '../../../src/config/load-message.js';
import { ConfigInvalidError } from '../../../src/config/problem.js';
import { resolvePaths } from '../../../src/paths.js';
import { tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const crossed = (error: unknown) => rebuiltError(structuredClone(sendableError(error)));

it('a loaded config is plain data: it crosses unchanged', async () => {
  const file = path.join(dir, 'ok.toml');
  writeFileSync(file, '[instance.a.server]\nmodel = "/m.gguf"\napi_key = "sk-1"\n[instance.a.env]\nX = "1"\n');
  const config = await loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }), fsChecks: false });
  expect(structuredClone(config)).toEqual(config);
});

it('an invalid config arrives as ConfigInvalidError with its typed problems, code and hint', async () => {
  const file = path.join(dir, 'bad.toml');
  writeFileSync(file, '[instance.a.server]\nctx_size = "big"\nmodel = "/m.gguf"\n');
  const original = (await loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }), fsChecks: false }).catch((e: unknown) => e)) as ConfigInvalidError;
  const error = crossed(original);
  expect(error).toBeInstanceOf(ConfigInvalidError);
  expect(error).toMatchObject({ code: 'E_CONFIG_INVALID', exitCode: ExitCode.CONFIG, file, message: original.message, hint: original.hint });
  expect((error as ConfigInvalidError).problems).toEqual(original.problems);
  expect((error as ConfigInvalidError).problems[0]).toMatchObject({ line: 2, kind: 'schema', subject: 'setting', instance: 'a' });
});

it('any other user error keeps its code, exit status and hint; a bug keeps its message and stack', async () => {
  const missing = await loadConfig(path.join(dir, 'nope.toml'), { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: dir }) }).catch((e: unknown) => e);
  const error = crossed(missing);
  expect(error).toBeInstanceOf(InferEntryError);
  expect(error).toMatchObject({ code: 'E_CONFIG_NOT_FOUND', exitCode: ExitCode.NO_INPUT, name: (missing as Error).name, hint: (missing as InferEntryError).hint });
  const bug = new TypeError('x is undefined');
  expect(crossed(bug)).toMatchObject({ name: 'TypeError', message: 'x is undefined', stack: bug.stack });
});
