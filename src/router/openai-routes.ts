/** The OpenAI-compatible surface: /v1/* by model, /v1/models, /upstream/{model}/..., /health, /metrics. */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Core } from './core.js';
import { clientGone, clientOf, pipeResult, readBody, requestOf, sendError, sendJson } from './http.js';
import type { RouterMetrics } from './metrics.js';
import type { RouteTable } from './routes.js';
import { RouterError, type ModelInfo } from './types.js';

export interface OpenAiRouteOptions {
  maxBodyBytes: number;
  /** 0 = off: streams waiting for a load get an SSE comment line this often (the 200 is then committed). */
  loadingHeartbeatMs?: number;
  metrics?: RouterMetrics;
}

const FORWARDED_HEADERS = ['content-type', 'accept'];

export function registerOpenAiRoutes(routes: RouteTable, core: Core, options: OpenAiRouteOptions): void {
  routes.add('GET', '/health', (_req, res) => sendJson(res, 200, { status: 'ok' }));
  routes.add('GET', '/metrics', async (_req, res) => {
    if (!options.metrics) return sendError(res, new RouterError(404, 'not_found', 'Metrics are off.'));
    const text = await options.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
    res.end(text);
  });
  routes.add('GET', '/v1/models', (_req, res) => {
    const data = core.models().flatMap((m) => m.ids.map((id) => modelEntry(id, m)));
    sendJson(res, 200, { object: 'list', data });
  });
  routes.add('GET', '/v1/models/:id', (_req, res, params) => {
    const m = core.resolve(params.id!);
    if (!m) return sendError(res, new RouterError(404, 'model_not_found', `The model '${params.id}' does not exist.`));
    sendJson(res, 200, modelEntry(params.id!, m));
  });
  routes.add('POST', '/v1/*', async (req, res) => {
    try {
      const body = await readBody(req, options.maxBodyBytes);
      const { model, stream } = requestOf(body);
      await forward(req, res, core, model, pathOf(req), body, options, stream);
    } catch (error) {
      sendError(res, error);
    }
  });
  routes.add('*', '/upstream/:model/*', async (req, res, params) => {
    try {
      core.instanceOf(params.model!);
      const body = await readBody(req, options.maxBodyBytes);
      const query = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?')) : '';
      await forward(req, res, core, params.model!, `/${params['*'] ?? ''}${query}`, body, options);
    } catch (error) {
      sendError(res, error);
    }
  });
}

async function forward(req: IncomingMessage, res: ServerResponse, core: Core, model: string, path: string, body: Buffer, options: OpenAiRouteOptions, stream = false): Promise<void> {
  const ctl = clientGone(res);
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const pending = core.forward({ model, method: req.method ?? 'GET', path, headers, body, client: clientOf(req), signal: ctl.signal });
  const every = options.loadingHeartbeatMs ?? 0;
  // Clients that give up on a silent connection keep waiting for a loading model.
  const beat =
    stream && every > 0
      ? setInterval(() => {
          if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
          res.write(': loading\n\n');
        }, every)
      : undefined;
  let result;
  try {
    result = await pending;
  } finally {
    clearInterval(beat);
  }
  options.metrics?.requests.inc({ model: core.instanceOf(model).name, status: String(result.status) });
  pipeResult(res, result);
}

function pathOf(req: IncomingMessage): string {
  return req.url ?? '/';
}

function modelEntry(id: string, m: ModelInfo) {
  return {
    id,
    object: 'model',
    created: 0,
    owned_by: 'infer-entry',
    instance: m.instance,
    state: m.state,
    on_demand: m.onDemand,
    queued: m.queued,
    in_flight: m.inFlight,
    expires_at: m.expiresAt === null ? null : Math.floor(m.expiresAt / 1000),
    context_size: m.contextSize,
  };
}
