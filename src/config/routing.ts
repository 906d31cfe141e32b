/**
 * The router's keys: the `[router]` table and the per-instance routing keys of `control`.
 * Kept beside schema.ts so configs without `[router]` are untouched: nothing here changes an
 * instance's argv, env or fingerprint.
 */
import { z } from 'zod';

import type { InstanceControl, RouterSettings } from '../router/types.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';

const durationHelp = 'a duration like "30s", "10m", "1h", "500ms", or an integer number of seconds';
const duration = (description: string, defaultValue: string) =>
  z
    .union([z.int().nonnegative(), z.string().regex(DURATION_PATTERN, { error: `expected ${durationHelp}` })], { error: `expected ${durationHelp}` })
    .optional()
    .meta({ description: `${description} (${durationHelp}).`, default: defaultValue });

export const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/;
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
export const LISTEN_PATTERN = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const MODEL_ID = /^[^\s/]{1,128}$/;

export const routingControlShape = {
  on_demand: z.boolean().optional().meta({ description: 'With [router] enabled: started by the first request for it, not at boot.', default: false }),
  group: z.string().min(1).optional().meta({ description: 'A [router.groups.NAME] table: members swap among themselves within its max_running.' }),
  aliases: z
    .array(z.string().regex(MODEL_ID, { error: 'expected a model id without spaces or "/"' }))
    .optional()
    .meta({ description: 'More model ids that route to this instance (besides its name and server.alias).', examples: [['gpt-4o']] }),
  ttl: duration('Unload after this long idle (nothing queued or in flight); 0 = never', '0'),
  max_concurrency: z.int().min(1).optional().meta({ description: 'Requests forwarded at once; more wait in the router. Default: server.parallel, else 4.' }),
  max_queue: z.int().min(0).optional().meta({ description: 'Requests waiting for this instance before 503. Default: [router] max_queue.' }),
  pinned: z.boolean().optional().meta({ description: 'true: never unloaded to make room for another model.', default: false }),
  vram_mb: z.int().min(1).optional().meta({ description: 'VRAM this instance needs per GPU (MiB), for [router] gpu_budget_mb.' }),
};

export const routerSchema = z
  .strictObject({
    enable: z.boolean().optional().meta({ description: 'Serve one OpenAI-compatible port in front of the instances.', default: false }),
    listen: z.string().regex(LISTEN_PATTERN, { error: 'expected HOST:PORT, e.g. "0.0.0.0:8000"' }).optional().meta({ description: 'Address of the router port.', default: '0.0.0.0:8000' }),
    max_queue: z.int().min(0).optional().meta({ description: 'Requests waiting across all models before 503 + Retry-After.', default: 256 }),
    queue_timeout: duration('No request waits longer; then 503 + Retry-After', '10m'),
    swap_max_wait: duration('Longest wait behind a loaded model that still has a queue before it is swapped out', '30s'),
    max_body: z
      .union([z.int().min(1), z.string().regex(SIZE_PATTERN, { error: 'expected a size like "32MiB"' })], { error: 'expected a size like "32MiB" or a number of bytes' })
      .optional()
      .meta({ description: 'Largest request body; more is 413.', default: '32MiB' }),
    gpu_budget_mb: z
      .record(z.string().regex(/^\d+$/, { error: 'expected a GPU index like "0"' }), z.int().min(1))
      .optional()
      .meta({ description: 'MiB usable per GPU index. Default with nvidia-smi: total minus 512 MiB.', examples: [{ '0': 23500 }] }),
    warmup: z.boolean().optional().meta({ description: 'Send a 1-token request after a load, before routing to the model.', default: true }),
    loading_heartbeat: duration('Streamed requests waiting for a load get an SSE comment line this often (the 200 is then committed; a failure comes as an error frame); 0 = off', '0'),
    groups: z
      .record(z.string().min(1), z.strictObject({ max_running: z.int().min(1).meta({ description: 'Members loaded at once.' }) }))
      .optional()
      .meta({ description: 'Swap groups: [router.groups.NAME] max_running = N.' }),
    ollama: z.boolean().optional().meta({ description: "Serve Ollama's API (/api/chat, /api/tags, ...) on the router's port. See docs/router.md.", default: true }),
    ollama_listen: z
      .string()
      .regex(LISTEN_PATTERN, { error: 'expected HOST:PORT, e.g. "0.0.0.0:11434"' })
      .optional()
      .meta({ description: "A second port serving the same API, for clients with Ollama's port hard-coded.", examples: ['0.0.0.0:11434'] }),
  })
  .meta({ description: 'The router: one OpenAI-compatible port, on-demand starts, idle unloads, swaps. See docs/router.md.' });

type Plain = Record<string, unknown>;

export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE_PATTERN.exec(value.trim());
  return m ? Math.round(Number(m[1]) * SIZE_UNITS[m[2] ?? 'B']!) : undefined;
}

/** Settings of a schema-valid `[router]` table; undefined when absent. */
export function routerSettingsOf(raw: unknown): RouterSettings | undefined {
  if (raw === undefined || raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Plain;
  const listen = typeof r.listen === 'string' ? r.listen : '0.0.0.0:8000';
  const colon = listen.lastIndexOf(':');
  const groups: RouterSettings['groups'] = {};
  for (const [name, g] of Object.entries((r.groups as Record<string, { max_running: number }> | undefined) ?? {})) groups[name] = { maxRunning: g.max_running };
  return {
    enable: r.enable === true,
    host: listen.slice(0, colon).replace(/^\[|\]$/g, ''),
    port: Number(listen.slice(colon + 1)),
    maxQueue: typeof r.max_queue === 'number' ? r.max_queue : 256,
    queueTimeoutMs: parseDuration(r.queue_timeout) ?? 600_000,
    swapMaxWaitMs: parseDuration(r.swap_max_wait) ?? 30_000,
    maxBodyBytes: parseSize(r.max_body) ?? 32 * 1024 ** 2,
    gpuBudgetMb: { ...((r.gpu_budget_mb as Record<string, number> | undefined) ?? {}) },
    warmup: r.warmup !== false,
    loadingHeartbeatMs: parseDuration(r.loading_heartbeat) ?? 0,
    groups,
    ollama: r.ollama !== false,
    ollamaListen: r.ollama !== false && typeof r.ollama_listen === 'string' ? hostPort(r.ollama_listen) : undefined,
  };
}

function hostPort(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  return { host: listen.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(listen.slice(colon + 1)) };
}

/** Routing keys of one instance (merged control + server tables). '*' in gpus = every budgeted GPU. */
export function routingOf(control: Plain, server: Plain, routerMaxQueue = 256): InstanceControl {
  const parallel = typeof server.parallel === 'number' && server.parallel > 0 ? server.parallel : undefined;
  const gpuIds = control.gpu_ids;
  const gpus = gpuIds === undefined || gpuIds === 'all' ? ['*'] : gpuIds === 'none' ? [] : String(gpuIds).split(',').map((s) => s.trim()).filter(Boolean);
  return {
    onDemand: control.on_demand === true,
    group: typeof control.group === 'string' ? control.group : undefined,
    aliases: Array.isArray(control.aliases) ? control.aliases.map(String) : [],
    ttlMs: parseDuration(control.ttl) ?? 0,
    maxConcurrency: typeof control.max_concurrency === 'number' ? control.max_concurrency : (parallel ?? 4),
    maxQueue: typeof control.max_queue === 'number' ? control.max_queue : routerMaxQueue,
    pinned: control.pinned === true,
    vramMb: typeof control.vram_mb === 'number' ? control.vram_mb : undefined,
    serverAlias: typeof server.alias === 'string' && server.alias !== '' ? server.alias : undefined,
    contextSize: typeof server.ctx_size === 'number' && server.ctx_size > 0 ? server.ctx_size : undefined,
    gpus,
    apiKey: typeof server.api_key === 'string' && server.api_key !== '' ? server.api_key : undefined,
  };
}

/** Every model id routes to one instance; every group named exists. */
export function checkRouting(
  routing: Array<{ name: string; control: InstanceControl }>,
  settings: RouterSettings,
): Array<{ path: (string | number)[]; message: string; instance: string }> {
  const problems: Array<{ path: (string | number)[]; message: string; instance: string }> = [];
  const owner = new Map<string, string>();
  for (const { name } of routing) owner.set(name, name);
  for (const { name, control } of routing) {
    for (const [id, key] of [[control.serverAlias, 'alias'], ...control.aliases.map((a) => [a, 'aliases'])] as Array<[string | undefined, string]>) {
      if (id === undefined) continue;
      const other = owner.get(id);
      if (other !== undefined && other !== name) {
        const path = key === 'alias' ? ['instance', name, 'server', 'alias'] : ['instance', name, 'control', 'aliases'];
        problems.push({ path, instance: name, message: `model id "${id}" already routes to instance "${other}" (expected every instance name, server.alias and alias to be unique)` });
      } else owner.set(id, name);
    }
    if (control.group !== undefined && settings.groups[control.group] === undefined) {
      problems.push({ path: ['instance', name, 'control', 'group'], instance: name, message: `group "${control.group}" is not defined (expected a [router.groups.${control.group}] table with max_running)` });
    }
  }
  return problems;
}
