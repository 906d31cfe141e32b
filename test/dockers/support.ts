/**
 * Shared by the dockers tests: where the shipped files are, a small Dockerfile reader (continuation
 * lines joined, comments dropped, JSON and shell forms), Debian tools that must be installed, and
 * the paths the image uses mapped into a temp root for the rehearsal.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const DOCKERS = path.join(REPO, 'dockers');
export const DOCKERFILE = path.join(DOCKERS, 'infer-dev/Dockerfile');
export const SHIMS_DIR = path.join(DOCKERS, 'infer-dev/installation/stage-2/custom');
export const SHIMS = ['infer-dev-entry.sh', 'check-and-run-llama-cpp.sh', 'install-llama-cpp-pkg.sh'];
export const IMAGE_README = path.join(DOCKERS, 'infer-dev/README.md');
export const COMPOSE_DIR = path.join(DOCKERS, 'compose');
export const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.gpu.yml', 'docker-compose.app.yml'].map((f) => path.join(COMPOSE_DIR, f));
export const K8S_DIR = path.join(DOCKERS, 'k8s');
export const K8S_FILES = ['configmap.yaml', 'pvc.yaml', 'deployment.yaml', 'services.yaml'].map((f) => path.join(K8S_DIR, f));
export const EXAMPLE_TOMLS = [path.join(COMPOSE_DIR, 'config/instances.toml'), path.join(K8S_DIR, 'instances.toml')];
export const CONFIG_SCHEMA = path.join(REPO, 'schemas/llama-cpp-config-toml.schema.json');
/** The instances' default stop grace (src/config/defaults.ts); container stop timeouts must exceed it. */
export const INSTANCE_STOP_GRACE_S = 8;
/** `docker stop`'s default timeout. */
export const DOCKER_STOP_TIMEOUT_S = 10;

export const read = (file: string): string => readFileSync(file, 'utf8');

export { need } from '../fixtures/need-tool.js';

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export function dockerfileInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    if (/^\s*(#|$)/.test(first)) continue;
    const start = i;
    let joined = first;
    while (/\\\s*$/.test(joined) && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue;
      joined = joined.replace(/\\\s*$/, ' ') + next.trim();
    }
    const m = /^\s*(\S+)\s*(.*)$/.exec(joined)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** Instructions of the last stage (the image users run). */
export function runtimeStage(instructions: Instruction[]): Instruction[] {
  let last = 0;
  instructions.forEach((ins, i) => {
    if (ins.keyword === 'FROM') last = i;
  });
  return instructions.slice(last);
}

export function only(instructions: Instruction[], keyword: string): Instruction {
  const found = instructions.filter((i) => i.keyword === keyword);
  if (found.length !== 1) throw new Error(`expected exactly one ${keyword} in the runtime stage, found ${found.length}`);
  return found[0]!;
}

/** `["a", "b"]` → ['a', 'b']; throws for the shell form where the test needs the exec form. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec-form JSON array: ${args}`);
  return parsed as string[];
}

/** ENV instructions of the runtime stage, `KEY=value` pairs (values unquoted). */
export function dockerfileEnv(instructions: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of instructions.filter((i) => i.keyword === 'ENV')) {
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      env[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    }
  }
  return env;
}

/** HEALTHCHECK [--flags] CMD cmd → the command as `sh -c` would run it (Docker's shell form). */
export function healthcheck(instructions: Instruction[]): { flags: Record<string, string>; command: string[] } {
  const ins = only(instructions, 'HEALTHCHECK');
  const m = /^((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)$/.exec(ins.args);
  if (!m) throw new Error(`HEALTHCHECK not understood: ${ins.args}`);
  const flags = Object.fromEntries([...m[1]!.matchAll(/--([a-z-]+)=(\S+)/g)].map((f) => [f[1]!, f[2]!]));
  const cmd = m[2]!.trim();
  return { flags, command: cmd.startsWith('[') ? execForm(cmd) : ['/bin/sh', '-c', cmd] };
}

/** "10m" / "15s" / "1m30s" → seconds (Docker and compose durations). */
export function durationSeconds(text: string): number {
  let total = 0;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`);
  for (const p of parts) total += Number(p[1]) * units[p[2]!]!;
  return total;
}

export const loadYaml = (file: string): any => parseYaml(read(file));

export function loadYamlDocuments(file: string): any[] {
  return parseAllDocuments(read(file)).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS();
  });
}

/** Compose `${VAR:-default}` interpolation with an empty host environment (the documented defaults). */
export function interpolateDefaults(value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_, _name: string, fallback: string | undefined) => fallback ?? '');
}

/** Env var names infer-entry owns; any of them named in docs or manifests must exist in src/. */
export const OWN_VARIABLE = /\b(?:AUTO_INFER_[A-Z0-9_]+|INFER_ENTRY_[A-Z0-9_]+)\b/g;
