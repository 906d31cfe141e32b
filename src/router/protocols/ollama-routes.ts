/**
 * Ollama's HTTP API on the router's route table. Every generation goes through RouterCore.forward
 * (queue, on-demand start, TTL), translated to llama-server's OpenAI endpoints and back; errors
 * use Ollama's shape, `{"error": "..."}` with the HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { writeBody } from '../http.js';
import type { RouteTable } from '../routes.js';
import { type ForwardRequest, type ForwardResult, type ModelInfo, RouterError, type RouterCore } from '../types.js';
import { translateChatRequest, translateChatResponse } from './ollama-chat.js';
import { translateEmbedRequest, translateEmbedResponse, translateLegacyEmbeddingsResponse } from './ollama-embed.js';
import { cheap, GenerateContext, type UpstreamCall } from './ollama-context.js';
import { translateGenerateRequest, translateGenerateResponse, type GenerateTranslated } from './ollama-generate.js';
import { InfillStreamTranslator, infillRefusal, translateInfillResponse } from './ollama-infill.js';
import { ModelFileSizes } from './model-file-size.js';
import { ps, show, tags, version } from './ollama-info.js';
import { ollamaName, resolveOllamaName } from './ollama-names.js';
import { OllamaStreamTranslator, type StreamKind } from './ollama-stream.js';
import { clientKey, disconnectSignal, readJson, sendJson, upstreamMessage } from './http-util.js';

export interface ProtocolLog {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface OllamaRouteOptions {
  maxBodyBytes: number;
  log?: ProtocolLog;
  /** ms epoch; injected so listings are testable. */
  now?: () => number;
  /** Model file sizes for /api/tags and /api/ps (the real file system by default). */
  sizes?: ModelFileSizes;
}

/** Calls that would change the model store: models come from the TOML file, so they are refused. */
const MANAGEMENT: Array<[string, string]> = [
  ['POST', '/api/pull'],
  ['POST', '/api/push'],
  ['POST', '/api/create'],
  ['DELETE', '/api/delete'],
  ['POST', '/api/copy'],
  ['POST', '/api/blobs/:digest'],
  ['HEAD', '/api/blobs/:digest'],
];

export function registerOllamaRoutes(routes: RouteTable, core: RouterCore, options: OllamaRouteOptions): RouteTable {
  const ctx = new Context(core, options);
  const wrap = (fn: (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => Promise<void> | void) =>
    async (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => {
      try {
        await fn(req, res, params);
      } catch (error) {
        ctx.fail(res, error);
      }
    };
  routes.add('GET', '/', (_req, res) => text(res, 'Ollama is running'));
  routes.add('HEAD', '/', (_req, res) => text(res, ''));
  routes.add('GET', '/api/version', (_req, res) => sendJson(res, 200, version()));
  const sizes = options.sizes ?? new ModelFileSizes();
  const sizeOf = (path: string | null) => sizes.of(path);
  routes.add('GET', '/api/tags', (_req, res) => sendJson(res, 200, tags(core.models(), ctx.iso(), sizeOf)));
  routes.add('GET', '/api/ps', (_req, res) => sendJson(res, 200, ps(core.models(), ctx.now(), sizeOf)));
  routes.add('POST', '/api/show', wrap(async (req, res) => {
    const request = await readJson(req, options.maxBodyBytes);
    const { model } = ctx.model(request);
    sendJson(res, 200, show(model, ctx.iso()));
  }));
  routes.add('POST', '/api/chat', wrap((req, res) => ctx.generate(req, res, 'chat')));
  routes.add('POST', '/api/generate', wrap((req, res) => ctx.generate(req, res, 'generate')));
  routes.add('POST', '/api/embed', wrap((req, res) => ctx.embed(req, res, false)));
  routes.add('POST', '/api/embeddings', wrap((req, res) => ctx.embed(req, res, true)));
  for (const [method, path] of MANAGEMENT) {
    routes.add(method, path, (req, res) => {
      req.resume();
      const call = path.replace('/:digest', '');
      sendJson(res, 501, {
        error: `${call} is not available: models are configured in infer-entry's TOML file ([instance.NAME] sections); edit it and run \`infer-entry reload\``,
      });
    });
  }
  return routes;
}

class Context {
  private readonly warned = new Set<string>();

  constructor(
    private readonly core: RouterCore,
    private readonly options: OllamaRouteOptions,
  ) {}

  now(): number {
    return this.options.now?.() ?? Date.now();
  }

  iso(): string {
    return new Date(this.now()).toISOString();
  }

  /** The model a request names (`model`, or the older `name`). */
  model(request: Record<string, unknown>): { name: string; model: ModelInfo } {
    const name = request.model ?? request.name;
    if (typeof name !== 'string' || name === '') throw new RouterError(400, 'bad_request', '"model" is required');
    const model = resolveOllamaName(this.core, name);
    if (!model) {
      const known = this.core.models().flatMap((m) => m.ids.map(ollamaName));
      throw new RouterError(404, 'model_not_found', `model "${name}" not found; configured models: ${known.join(', ') || 'none'} (GET /api/tags)`);
    }
    return { name, model };
  }

  async generate(req: IncomingMessage, res: ServerResponse, kind: StreamKind): Promise<void> {
    const started = Date.now();
    const request = await readJson(req, this.options.maxBodyBytes);
    const { name, model } = this.model(request);
    const translated: GenerateTranslated =
      kind === 'chat'
        ? { ...translateChatRequest(request, model), path: '/v1/chat/completions', context: undefined, returnsContext: false }
        : translateGenerateRequest(request, model);
    this.warn(res, model, translated.warnings);
    const nothing = kind === 'chat' ? ((request.messages as unknown[] | undefined) ?? []).length === 0 : !request.prompt && !request.images;
    if (nothing) {
      // Clients load (or, with keep_alive 0, unload) a model by sending nothing to generate.
      const unload = translated.keepAliveMs === 0;
      if (unload) await this.core.unload(model.id);
      else await this.core.load(model.id, disconnectSignal(req, res));
      const last = kind === 'chat' ? { message: { role: 'assistant', content: '' } } : { response: '' };
      sendJson(res, 200, { model: name, created_at: this.iso(), ...last, done: true, done_reason: unload ? 'unload' : 'load' });
      return;
    }
    const signal = disconnectSignal(req, res);
    let loadMs = 0;
    const call: UpstreamCall = async (path, body) => {
      const result = await this.core.forward(this.upstreamRequest(req, model, path, body, translated.keepAliveMs, signal));
      loadMs = Math.max(loadMs, result.loadWaitMs);
      if (result.status < 400) return this.json(result);
      const text = await result.body.text().finally(() => result.release());
      throw new RouterError(result.status, 'upstream_error', upstreamMessage(text, result.status));
    };
    const context = translated.returnsContext ? new GenerateContext(call, translated.body) : undefined;
    let { path, body } = translated;
    if (context && translated.context) {
      body = await context.prepend(translated.context);
      path = '/v1/completions';
    }
    const infill = path === '/infill';
    const result = await this.forward(req, res, model, path, body, translated.keepAliveMs, signal, infill ? (status, message) => infillRefusal(name, status, message) : undefined);
    if (!result) return;
    loadMs = Math.max(loadMs, result.loadWaitMs);
    // Asked (the client sent a context) or cheap (a free slot, nobody waiting): see ollama-context.ts.
    const contextOf = async (response: string): Promise<Record<string, unknown>> => {
      if (!context || (translated.context === undefined && !cheap(this.core.resolve(model.id)))) return {};
      try {
        return { context: await context.tokens(response) };
      } catch (error) {
        if (!signal.aborted) this.warn(res, model, [`"context" not returned: ${error instanceof Error ? error.message : String(error)}`], false);
        return {};
      }
    };
    if (translated.stream) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
      const translator = infill
        ? new InfillStreamTranslator(name, () => this.now(), started, { loadMs })
        : new OllamaStreamTranslator(kind, name, () => this.now(), started, { loadMs, ...(context ? { finish: contextOf } : {}) });
      // Translated chunk by chunk into the response: no stream stage between them. A cut upstream
      // still ends with the translator's closing line (an error line unless the answer finished); a
      // finished generate's done line waits for its context — also when the cut came after the
      // finish reason (the held done line was dropped there before).
      const close = () => {
        if (res.destroyed) return;
        const out = translator.end();
        void translator.finish().then((last) => {
          if (!res.destroyed) res.end(out + last);
        });
      };
      writeBody(res, result.body, { end: close, error: close }, { transform: (chunk) => translator.push(chunk) });
      return;
    }
    const upstream = await this.json(result);
    const totalMs = Date.now() - started;
    const translate = infill ? translateInfillResponse : kind === 'chat' ? translateChatResponse : translateGenerateResponse;
    const out = translate(upstream, name, this.iso(), totalMs, loadMs);
    sendJson(res, 200, context ? { ...out, ...(await contextOf(String(out.response ?? ''))) } : out);
  }

  async embed(req: IncomingMessage, res: ServerResponse, legacy: boolean): Promise<void> {
    const started = Date.now();
    const request = await readJson(req, this.options.maxBodyBytes);
    const { name, model } = this.model(request);
    const translated = translateEmbedRequest(request, model, legacy);
    this.warn(res, model, translated.warnings);
    if (translated.empty) {
      await this.core.load(model.id, disconnectSignal(req, res));
      sendJson(res, 200, legacy ? { embedding: [] } : { model: name, embeddings: [] });
      return;
    }
    const result = await this.forward(req, res, model, '/v1/embeddings', translated.body, translated.keepAliveMs);
    if (!result) return;
    const upstream = await this.json(result);
    sendJson(res, 200, legacy ? translateLegacyEmbeddingsResponse(upstream) : translateEmbedResponse(upstream, name, Date.now() - started));
  }

  /**
   * Through the queue; an upstream error answer is relayed in Ollama's shape (undefined then),
   * reworded by `refusal` when it knows the error.
   */
  private async forward(
    req: IncomingMessage,
    res: ServerResponse,
    model: ModelInfo,
    path: string,
    body: Record<string, unknown>,
    keepAliveMs: number | undefined,
    signal: AbortSignal = disconnectSignal(req, res),
    refusal?: (status: number, message: string) => { status: number; error: string } | undefined,
  ): Promise<ForwardResult | undefined> {
    const result = await this.core.forward(this.upstreamRequest(req, model, path, body, keepAliveMs, signal));
    if (result.status < 400) return result;
    const text = await result.body.text().finally(() => result.release());
    const message = upstreamMessage(text, result.status);
    const known = refusal?.(result.status, message);
    sendJson(res, known?.status ?? result.status, { error: known?.error ?? message });
    return undefined;
  }

  private upstreamRequest(req: IncomingMessage, model: ModelInfo, path: string, body: Record<string, unknown>, keepAliveMs: number | undefined, signal: AbortSignal): ForwardRequest {
    return {
      model: model.id,
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify(body)),
      client: clientKey(req),
      signal,
      ...(keepAliveMs === undefined ? {} : { keepAliveMs }),
    };
  }

  private async json(result: ForwardResult): Promise<Record<string, unknown>> {
    const text = await result.body.text().finally(() => result.release());
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new RouterError(502, 'upstream_error', "the model's instance answered with something that is not JSON");
    }
  }

  /** Logged once per model and warning; also sent to the client (in a header, unless already sent), which cannot read our logs. */
  private warn(res: ServerResponse, model: ModelInfo, warnings: string[], header = true): void {
    if (warnings.length === 0) return;
    if (header && !res.headersSent) res.setHeader('x-infer-entry-warning', warnings.join('; ').replace(/[^\x20-\x7e]/g, '?'));
    for (const warning of warnings) {
      const key = `${model.id}\u0000${warning}`;
      if (this.warned.has(key) || this.warned.size > 1000) continue;
      this.warned.add(key);
      this.options.log?.warn({ model: model.id, protocol: 'ollama' }, warning);
    }
  }

  fail(res: ServerResponse, error: unknown): void {
    // The client is gone (its disconnect aborted the upstream read): nobody to answer.
    if (res.destroyed) return;
    if (error instanceof RouterError && error.code === 'client_closed') {
      res.destroy();
      return;
    }
    if (res.headersSent) {
      // Mid-stream: Ollama clients read an error line.
      res.end(`${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`);
      return;
    }
    if (error instanceof RouterError) {
      const headers: Record<string, string> = error.retryAfterSeconds !== undefined ? { 'retry-after': String(error.retryAfterSeconds) } : {};
      const detail = error.failureClass ? ` (${error.failureClass})` : '';
      sendJson(res, error.status, { error: `${error.message}${detail}` }, headers);
      return;
    }
    this.options.log?.error({ err: error, protocol: 'ollama' }, 'Ollama API request failed');
    sendJson(res, 500, { error: 'internal error in the router; see the infer-entry log' });
  }
}

function text(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
