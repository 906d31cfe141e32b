/**
 * Ollama names are `name:tag` (tag defaults to `latest`, an optional `registry/namespace/` prefix).
 * Our ids are whatever the user configured (instance name, server.alias, control.aliases), so each
 * id is shown as `id:latest` unless it already carries a tag, and a requested name routes when any
 * spelling of it — with or without `:latest`, with the default registry prefix, in any case — is one
 * of those ids.
 */
import type { ModelInfo, RouterCore } from '../types.js';

const DEFAULT_PREFIXES = ['registry.ollama.ai/library/', 'registry.ollama.ai/', 'library/'];

/** The name an Ollama client sees for one of our ids. */
export function ollamaName(id: string): string {
  return hasTag(id) ? id : `${id}:latest`;
}

/** A tag is a `:` after the last `/` (a `host:port/` prefix is not a tag). */
function hasTag(name: string): boolean {
  return name.lastIndexOf(':') > name.lastIndexOf('/');
}

/** Every spelling of `name` that may be a configured id, most specific first. */
export function nameCandidates(name: string): string[] {
  const out: string[] = [];
  const add = (candidate: string) => {
    if (candidate && !out.includes(candidate)) out.push(candidate);
  };
  const trimmed = name.trim();
  const bases = [trimmed];
  for (const prefix of DEFAULT_PREFIXES) {
    if (trimmed.toLowerCase().startsWith(prefix)) bases.push(trimmed.slice(prefix.length));
  }
  for (const base of bases) {
    add(base);
    if (base.endsWith(':latest')) add(base.slice(0, -':latest'.length));
    else if (!hasTag(base)) add(`${base}:latest`);
  }
  return out;
}

/** The model a name from an Ollama client routes to; undefined when none (404 in Ollama's shape). */
export function resolveOllamaName(core: Pick<RouterCore, 'resolve' | 'models'>, name: string): ModelInfo | undefined {
  const candidates = nameCandidates(name);
  for (const candidate of candidates) {
    const found = core.resolve(candidate);
    if (found) return found;
  }
  // Ollama matches names case-insensitively; only fall back to it when exactly one model fits.
  const lower = new Set(candidates.map((c) => c.toLowerCase()));
  const matches = core.models().filter((m) => m.ids.some((id) => lower.has(id.toLowerCase())));
  return matches.length === 1 ? matches[0] : undefined;
}
