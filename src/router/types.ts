/**
 * The router's seam: what protocol layers (OpenAI, Ollama, llama.cpp router mode) may call.
 * They never bypass the queue: every upstream request goes through RouterCore.forward.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FailureClass, InstanceState } from '../supervisor/types.js';
import type { UpstreamBody } from './upstream.js';

export type { FailureClass, InstanceState };

export interface ModelInfo {
  /** Canonical id = instance name. */
  id: string;
  instance: string;
  /** Every id that routes here: name, server.alias, control.aliases. */
  ids: string[];
  /** From the supervisor. */
  state: InstanceState;
  onDemand: boolean;
  /** 0 = never unload. */
  ttlMs: number;
  /** When the TTL will unload it (ms epoch); null when not counting. */
  expiresAt: number | null;
  /** From config (server.ctx_size) or learned /props. */
  contextSize: number | null;
  /** Last /props JSON fetched from the instance (cached; listing never fetches). */
  props: unknown | null;
  port: number;
  host: string;
  /** Requests waiting / in flight right now. */
  queued: number;
  inFlight: number;
  /** Requests the router lets run at once (control.max_concurrency). */
  maxConcurrency: number;
  /** Learned start → ready (and warm) time, ms; null before the first load. */
  loadMs: number | null;
  /** VRAM the model uses, MiB: measured after a load when a GPU probe is present, else `control.vram_mb`; null when unknown. */
  vramMb: number | null;
  /** Whether vramMb was measured (true) or configured (false); null when vramMb is null. */
  vramMeasured: boolean | null;
  /** The instance's `server.model` file, when it is a local path. */
  modelPath: string | null;
}

export interface ForwardRequest {
  /** Any id from ModelInfo.ids. */
  model: string;
  method: string;
  /** Upstream path with query, e.g. '/v1/chat/completions', '/props'. */
  path: string;
  /** Extra headers (content-type, accept); the core adds the instance's own api key. */
  headers?: Record<string, string>;
  /** Bytes forwarded as-is. */
  body?: Uint8Array;
  /** Fairness key (API key hash, else X-Client-Id, else remote address). */
  client: string;
  /** Client gone: leaves the queue / aborts the upstream request at once. */
  signal: AbortSignal;
  /** Per-request TTL override (Ollama keep_alive; 0 = unload after this request). */
  keepAliveMs?: number;
}

export interface ForwardResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Upstream body for one consumer, with backpressure (a full sink pauses the upstream read); destroy() to abort. */
  body: UpstreamBody;
  /** How long this request waited for its model to start and warm up, ms (0 when it was already warm). */
  loadWaitMs: number;
  /**
   * Marks the request no longer in flight (the TTL starts after the last one). Idempotent; the core
   * calls it itself when the body ends, errors or is destroyed.
   */
  release(): void;
}

/** Stable codes; each protocol renders them in its own shape. */
export type RouterErrorCode =
  | 'model_not_found'
  | 'bad_request'
  | 'body_too_large'
  | 'queue_full'
  | 'queue_timeout'
  | 'instance_failed'
  | 'upstream_error'
  | 'client_closed'
  | 'router_stopping'
  | 'unauthorized'
  | 'not_found'
  | 'not_supported';

/** One class for every router-level failure. */
export class RouterError extends Error {
  constructor(
    /** 400, 404, 413, 429, 499, 501, 502, 503, 504 */
    public readonly status: number,
    public readonly code: RouterErrorCode,
    message: string,
    public readonly retryAfterSeconds?: number,
    public readonly failureClass?: FailureClass | string,
  ) {
    super(message);
    this.name = 'RouterError';
  }
}

export interface RouterCore {
  /** Never starts anything. */
  models(): ModelInfo[];
  resolve(id: string): ModelInfo | undefined;
  /** queue → start if needed → warm → upstream. Rejects with RouterError. */
  forward(request: ForwardRequest): Promise<ForwardResult>;
  /** Start through the supervisor (llama.cpp /models/load); resolves when ready. */
  load(id: string, signal?: AbortSignal): Promise<ModelInfo>;
  /** Stop once in-flight work ends (/models/unload). */
  unload(id: string): Promise<ModelInfo>;
}

/** HTTP mounting: a tiny table so a second listener can serve the same handlers. */
export type RouteParams = Record<string, string>;
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, params: RouteParams) => void | Promise<void>;
export interface Route {
  /** 'GET', 'POST', ... or '*' for any. */
  method: string;
  /** '/v1/models/:id', '/upstream/:model/*' (':x' one segment, decoded; trailing '*' the rest, as sent, in params['*']). */
  pattern: string;
  handler: RouteHandler;
}

/** [router] as the core sees it: durations in ms, sizes in bytes. */
export interface RouterSettings {
  enable: boolean;
  host: string;
  port: number;
  maxQueue: number;
  queueTimeoutMs: number;
  swapMaxWaitMs: number;
  maxBodyBytes: number;
  /** GPU index → MiB usable; empty = GPU total minus a reserve (when a probe is present). */
  gpuBudgetMb: Record<string, number>;
  warmup: boolean;
  /** 0 = off; waiting streams get SSE comment lines this often. */
  loadingHeartbeatMs: number;
  groups: Record<string, { maxRunning: number }>;
  /** Ollama's API on the router's port (default true when the router is on). */
  ollama: boolean;
  /** A second listener for clients with Ollama's port hard-coded (`ollama_listen`); undefined = none. */
  ollamaListen: { host: string; port: number } | undefined;
}

/** Per-instance `control` keys. */
export interface InstanceControl {
  onDemand: boolean;
  group: string | undefined;
  aliases: string[];
  /** 0 = never unload. */
  ttlMs: number;
  /** Default: server.parallel, else 1. */
  maxConcurrency: number;
  maxQueue: number;
  pinned: boolean;
  vramMb: number | undefined;
  /** server.alias, server.ctx_size, GPUs used (from config), when known. */
  serverAlias: string | undefined;
  contextSize: number | undefined;
  gpus: string[];
  /** The instance's own api key, added upstream; never logged. */
  apiKey: string | undefined;
}
