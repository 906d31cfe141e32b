/**
 * The environment contract, both directions: every variable the Dockerfile, compose, Kubernetes
 * manifests and READMEs name exists in src/ (a renamed variable cannot leave stale docs), and every
 * variable src/ reads is documented in README.md or dockers/infer-dev/README.md.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../src/env.js';
import {
  COMPOSE_FILES,
  DOCKERFILE,
  IMAGE_README,
  K8S_FILES,
  OWN_VARIABLE,
  REPO,
  dockerfileEnv,
  dockerfileInstructions,
  loadYaml,
  loadYamlDocuments,
  read,
} from './support.js';

const SRC = path.join(REPO, 'src');
const ROOT_README = path.join(REPO, 'README.md');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Variables a piece of source reads: process.env.X, env.X, env?.X, env['X'], and ENV.KEY constants. */
function variablesRead(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/\benv\??\.([A-Z][A-Z0-9_]*)\b/g)) names.add(m[1]!);
  for (const m of source.matchAll(/\benv\??\.?\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\]/g)) names.add(m[1]!);
  for (const m of source.matchAll(/\bENV\.([A-Z][A-Z0-9_]*)\b/g)) {
    const name = (ENV as Record<string, string>)[m[1]!];
    if (!name) throw new Error(`ENV.${m[1]} is not in src/env.ts`);
    names.add(name);
  }
  return [...names];
}

const srcText = sourceFiles(SRC).map(read).join('\n');
/** The root README also documents development knobs (test and bench harness variables). */
const devText = [path.join(REPO, 'test'), path.join(REPO, 'bench')]
  .flatMap((d) => sourceFiles(d))
  .filter((f) => !f.startsWith(path.join(REPO, 'test/dockers')))
  .map(read)
  .join('\n');
const read_ = [...new Set(sourceFiles(SRC).flatMap((f) => variablesRead(read(f))))].sort();
const docs = `${read(ROOT_README)}\n${read(IMAGE_README)}`;

/** Every variable the shipped files name, with where. */
function namedInShippedFiles(): { name: string; where: string }[] {
  const named: { name: string; where: string }[] = [];
  const add = (where: string, names: Iterable<string>) => {
    for (const name of names) named.push({ name, where });
  };
  add('Dockerfile ENV', Object.keys(dockerfileEnv(dockerfileInstructions(read(DOCKERFILE)))));
  add('Dockerfile', [...read(DOCKERFILE).matchAll(OWN_VARIABLE)].map((m) => m[0]));
  const compose = loadYaml(COMPOSE_FILES[0]!);
  add('docker-compose.yml environment', Object.keys(compose.services['infer-dev'].environment));
  for (const file of COMPOSE_FILES) add(path.basename(file), [...read(file).matchAll(OWN_VARIABLE)].map((m) => m[0]));
  for (const file of K8S_FILES) {
    for (const doc of loadYamlDocuments(file)) {
      for (const c of doc.spec?.template?.spec?.containers ?? []) add(`${path.basename(file)} env`, (c.env ?? []).map((e: { name: string }) => e.name));
    }
    add(path.basename(file), [...read(file).matchAll(OWN_VARIABLE)].map((m) => m[0]));
  }
  add('README.md', [...read(ROOT_README).matchAll(OWN_VARIABLE)].map((m) => m[0]));
  add('dockers/infer-dev/README.md', [...read(IMAGE_README).matchAll(OWN_VARIABLE)].map((m) => m[0]));
  return named;
}

describe('environment variables', () => {
  it('the scanner finds reads in every form src/ uses', () => {
    const sample = "a = process.env.ONE; b = env.TWO; c = env?.THREE; d = env['FOUR']; e = ctx.env[\"FIVE\"]; f = env[ENV.CONFIG]; g = someEnv.NOT_THIS";
    expect(variablesRead(sample).sort()).toEqual(['AUTO_INFER_LLAMA_CPP_CONFIG', 'FIVE', 'FOUR', 'ONE', 'THREE', 'TWO']);
    // and in the real tree, one of each kind at least
    expect(read_).toEqual(expect.arrayContaining(['INFER_ENTRY_LOG_LEVEL', 'INFER_ENTRY_ROOT', 'AUTO_INFER_LLAMA_CPP_CONFIG']));
  });

  it('every variable named in the Dockerfile, compose, Kubernetes and the READMEs exists in src/ (README.md: or in the test/bench harness)', () => {
    const exists = (name: string, where: string) =>
      new RegExp(`\\b${name}\\b`).test(srcText) || (where === 'README.md' && new RegExp(`\\b${name}\\b`).test(devText));
    expect(exists('AUTO_INFER_LLAMA_CPP_CONFIGS', 'README.md'), 'a misspelt name is caught').toBe(false);
    const missing = namedInShippedFiles().filter(({ name, where }) => !exists(name, where));
    expect(missing).toEqual([]);
  });

  it('every variable src/ reads is documented in README.md or dockers/infer-dev/README.md', () => {
    const undocumented = read_.filter((name) => !new RegExp(`\\b${name}\\b`).test(docs));
    expect(undocumented).toEqual([]);
  });

  it('every variable of the contract (src/env.ts) is in the image README env table', () => {
    const table = read(IMAGE_README).split('## Environment')[1]!.split('\n## ')[0]!;
    for (const name of Object.values(ENV)) expect(table, name).toContain(`| \`${name}\` |`);
  });
});
