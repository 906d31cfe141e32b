/**
 * TOML text → LoadedConfig, or every problem found. Pure: the only view of the
 * file system is the injected `exists` (used to pick the default executable and
 * the library directories), so tests and `validate` run anywhere.
 */
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ENV } from '../env.js';
import { findOnPath } from '../find-on-path.js';
import type { Paths } from '../paths.js';
import { buildInstance } from './build-instance.js';
import { deepMergeOverrides, isPlainObject, mergeControl, mergeServer, type Plain } from './merge.js';
import { configSchema, type ConfigInput, type MasterInput, type ServerInput } from './schema.js';
import { DEFAULT_ENABLED } from './defaults.js';
import { checkRouting, routerSettingsOf, routingOf } from './routing.js';
import { checkPorts } from './semantic.js';
import { MAX_CONFIG_BYTES } from './read-config-file.js';
import { MAX_DEPTH, checkStructure, type StructureProblem } from './structure-limits.js';
import { createTomlLocator, type KeyPath } from './toml-locator.js';
import type { ConfigProblem, DraftProblem } from './problem.js';
import type { InstanceSpec, LoadedConfig } from './types.js';
import { issuesToProblems } from './zod-problems.js';

export interface ParseOptions {
  env: NodeJS.ProcessEnv;
  paths: Paths;
  /** Resolve the default executable; injected so parse stays pure. Default: nothing exists. */
  exists?: (p: string) => boolean;
}

export interface ParseResult {
  config: LoadedConfig | null;
  problems: ConfigProblem[];
  /**
   * When the file is invalid: every instance whose files can still be checked (model, executable,
   * log file), built from the keys that did pass the schema, so a bad `ctx_size` does not hide a
   * missing model. Only for file checks: an instance with a schema problem is built without its bad keys.
   */
  partial?: InstanceSpec[];
}

const EXECUTABLE = 'llama-server';

function resolveExecutable(master: MasterInput, env: NodeJS.ProcessEnv, paths: Paths, exists: (p: string) => boolean): string {
  if (master.llama_cpp_path !== undefined) return master.llama_cpp_path;
  const installed = path.join(paths.install, 'bin', EXECUTABLE);
  if (exists(installed)) return installed;
  return findOnPath(EXECUTABLE, env, exists) ?? EXECUTABLE;
}

function libraryDirsOf(executable: string, paths: Paths, exists: (p: string) => boolean): string[] {
  if (!executable.includes('/')) return [];
  const dirs = [path.dirname(executable)];
  for (const candidate of [path.join(path.dirname(path.dirname(executable)), 'lib'), path.join(paths.install, 'lib')]) {
    if (!dirs.includes(candidate) && exists(candidate)) dirs.push(candidate);
  }
  return dirs;
}

function readOverrides(env: NodeJS.ProcessEnv): { value: Plain | undefined; problems: ConfigProblem[] } {
  const raw = env[ENV.OVERRIDES];
  if (raw === undefined || raw.trim() === '') return { value: undefined, problems: [] };
  const problem = (message: string, path: KeyPath = [], kind: ConfigProblem['kind'] = 'syntax'): ConfigProblem => ({ file: ENV.OVERRIDES, line: undefined, column: undefined, path, message, kind, subject: 'overrides' });
  if (raw.length > MAX_CONFIG_BYTES) {
    return { value: undefined, problems: [problem(`${raw.length} characters, more than the limit of ${MAX_CONFIG_BYTES} (expected a small JSON object of the keys to change)`)] };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return { value: undefined, problems: [problem(`not valid JSON: ${(error as Error).message} (expected a JSON object such as {"instance":{"x":{"server":{"port":8081}}}})`)] };
  }
  if (!isPlainObject(value)) {
    return { value: undefined, problems: [problem(`not a JSON object (expected an object merged over the file, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)})`)] };
  }
  const structure = checkStructure(value);
  if (structure.length > 0) return { value: undefined, problems: structure.map((p) => problem(p.message, p.path, 'schema')) };
  return { value, problems: [] };
}

export function parseConfig(text: string, fileName: string, o: ParseOptions): ParseResult {
  const exists = o.exists ?? (() => false);
  let data: Plain;
  try {
    data = parseToml(text, { maxDepth: MAX_DEPTH }) as Plain;
  } catch (error) {
    if (error instanceof TomlError) {
      let message = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      if (/excessively nested/.test(message)) message = `values nested more than ${MAX_DEPTH} levels deep`;
      return { config: null, problems: [{ file: fileName, line: error.line, column: error.column, path: [], message: `TOML syntax error: ${message}`, kind: 'syntax', subject: 'toml' }] };
    }
    throw error;
  }

  const locator = createTomlLocator(text);
  const inFile = (p: StructureProblem): ConfigProblem => {
    const at = locator.locate(p.path);
    return { file: fileName, line: at?.line, column: at?.column, path: p.path, message: p.message, kind: 'schema', subject: 'setting' };
  };
  const problems: ConfigProblem[] = [];
  const structure = checkStructure(data);
  const overrides = readOverrides(o.env);
  problems.push(...structure.map(inFile), ...overrides.problems);
  // Deep nesting and prototype keys in the file make every later step unsafe: report them alone.
  // A NUL is a leaf: go on. Bad overrides are not merged, so the file is still checked.
  if (structure.some((p) => p.rule !== 'nul')) return { config: null, problems: sortProblems(problems) };
  const { merged, touched } = overrides.value ? deepMergeOverrides(data, overrides.value) : { merged: data, touched: [] as string[][] };

  // A set of the touched paths keeps this linear in the problems (overrides can hold thousands of keys).
  const touchedKeys = new Set(touched.map((t) => JSON.stringify(t)));
  const fromOverrides = (p: KeyPath) => p.some((_, k) => touchedKeys.has(JSON.stringify(p.slice(0, k + 1).map(String))));
  const place = (d: DraftProblem): ConfigProblem => {
    if (fromOverrides(d.path)) return { file: ENV.OVERRIDES, line: undefined, column: undefined, ...d };
    const at = locator.locate(d.path);
    return { file: fileName, line: at?.line, column: at?.column, ...d };
  };

  const parsed = configSchema.safeParse(merged, { reportInput: true });
  const schemaProblems = parsed.success ? [] : issuesToProblems(parsed.error.issues);
  problems.push(...schemaProblems.map(place));

  const { typed, broken } = parsed.success ? { typed: parsed.data, broken: new Set<string>() } : checkablePart(merged, schemaProblems);

  const specs: InstanceSpec[] = [];
  const fileTargets: InstanceSpec[] = [];
  const semantic: DraftProblem[] = [];
  const routerSettings = routerSettingsOf(merged.router);
  const router = routerSettings?.enable ? routerSettings : undefined;
  if (typed !== undefined) {
    const executable = resolveExecutable(typed.master ?? {}, o.env, o.paths, exists);
    const libraryDirs = libraryDirsOf(executable, o.paths, exists);
    const { control: sharedControl = {}, server: typedSharedServer = {}, ...own } = typed.instance ?? {};
    const sharedServer = inFileOrder(typedSharedServer, merged, ['instance', 'server']);
    for (const [name, table] of Object.entries(own)) {
      const { server: typedOwnServer = {}, control: ownControl = {}, env: instanceEnv = {} } = table;
      const ownServer = inFileOrder(typedOwnServer, merged, ['instance', name, 'server']);
      const control = mergeControl(sharedControl, ownControl);
      const server = mergeServer(sharedServer, ownServer);
      const built = buildInstance({
        name,
        control,
        server,
        serverKeyPath: (key) => (key in ownServer || !(key in sharedServer) ? ['instance', name, 'server', key] : ['instance', 'server', key]),
        controlKeyPath: (key) => (key in ownControl || !(key in sharedControl) ? ['instance', name, 'control', key] : ['instance', 'control', key]),
        executable,
        libraryDirs,
        env: o.env,
        instanceEnv,
      });
      // Built without its bad keys: its ports and semantic problems would mislead, its file paths do not.
      if (broken.has(name)) {
        fileTargets.push(built.spec);
        continue;
      }
      if (router) {
        built.spec.routing = routingOf(control, server, router.maxQueue);
        // Started by the first request (or `infer-entry start`), never at boot or by a reload.
        if (built.spec.routing.onDemand) built.spec.enabled = false;
      }
      specs.push(built.spec);
      semantic.push(...built.problems);
    }
    if (router) {
      const routed = specs.flatMap((spec) => (spec.routing ? [{ name: spec.name, control: spec.routing }] : []));
      semantic.push(...checkRouting(routed, router).map((p) => ({ ...p, kind: 'semantic' as const, subject: 'setting' as const })));
    }
    const portPath = (name: string) => {
      const own = ['instance', name, 'server', 'port'];
      return locator.exact(own) || !locator.exact(['instance', 'server', 'port']) ? own : ['instance', 'server', 'port'];
    };
    semantic.push(...checkPorts(specs, portPath));
  }
  problems.push(...semantic.map(place));

  if (problems.length > 0) {
    return { config: null, problems: sortProblems(problems), partial: [...specs, ...fileTargets] };
  }
  return {
    config: { file: fileName, enable: typed?.master?.enable ?? DEFAULT_ENABLED, instances: specs, ...(router ? { router } : {}) },
    problems: [],
  };
}

/**
 * When the schema refused something, the part of the config that later checks can still use, so
 * one run reports as much as it can: without the bad keys (their defaults apply instead). `broken`
 * names the instances with a problem outside their control table: they are kept for their file
 * checks only. A problem under a list or table value removes the whole key it is in. Undefined when
 * a problem is in a table every instance shares, like [instance.server]: every instance's checks
 * would mislead (wrong ports, ...).
 */
function checkablePart(merged: Plain, problems: readonly DraftProblem[]): { typed: ConfigInput | undefined; broken: Set<string> } {
  const broken = new Set(problems.filter((p) => p.path[2] !== 'control').map((p) => p.instance).filter((n): n is string => n !== undefined));
  if (problems.some((p) => p.path.length <= 1 || (p.path[0] === 'instance' && p.path[1] === 'server'))) return { typed: undefined, broken };
  const withoutBadKeys = (dropBroken: boolean): ConfigInput | undefined => {
    const copy = structuredClone(merged);
    const instances = isPlainObject(copy.instance) ? copy.instance : {};
    if (dropBroken) for (const name of broken) delete instances[name];
    for (const p of problems) {
      const own = p.instance !== undefined && broken.has(p.instance);
      if (!own) deleteAt(copy, p.path);
      else if (!dropBroken) deleteAt(copy, p.path.slice(0, 4));
    }
    const again = configSchema.safeParse(copy);
    return again.success ? again.data : undefined;
  };
  // Should removing a broken instance's bad keys still not give a valid table, the others are checked without it.
  return { typed: withoutBadKeys(false) ?? withoutBadKeys(true), broken };
}

/** zod rebuilds a table in schema order; llama-server's argv follows the order of the file. */
function inFileOrder(typed: ServerInput, tree: Plain, at: KeyPath): ServerInput {
  let raw: unknown = tree;
  for (const part of at) raw = isPlainObject(raw) ? raw[String(part)] : undefined;
  if (!isPlainObject(raw)) return typed;
  const ordered: ServerInput = {};
  for (const key of Object.keys(raw)) {
    const value = typed[key];
    if (value !== undefined) ordered[key] = value;
  }
  return ordered;
}

function deleteAt(tree: Plain, at: KeyPath): void {
  let table: unknown = tree;
  for (const part of at.slice(0, -1)) table = isPlainObject(table) ? table[String(part)] : undefined;
  if (isPlainObject(table)) delete table[String(at.at(-1))];
}

/** File order first (what an editor shows), then problems without a place. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, index) => ({ p, index }))
    .sort((a, b) => (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || (a.p.column ?? 0) - (b.p.column ?? 0) || a.index - b.index)
    .map(({ p }) => p);
}
