/**
 * The endpoints of llama-server's own router mode, so clients written for it work unchanged:
 * GET /models (ids and status), GET /props?model=ID (that instance's /props, through the queue,
 * starting it), POST /models/load and /models/unload (through the supervisor). Errors use
 * llama-server's shape, `{"error": {"code", "message", "type"}}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { writeBody } from '../http.js';
import type { RouteTable } from '../routes.js';
import { type ModelInfo, RouterError, type RouterCore } from '../types.js';
import { clientKey, disconnectSignal, readJson, sendJson } from './http-util.js';

export interface LlamaCppRouteOptions {
  maxBodyBytes: number;
}

/** Supervisor state → llama-server router status value. */
export function statusValue(state: ModelInfo['state']): 'loaded' | 'loading' | 'unloaded' {
  if (state === 'ready' || state === 'unhealthy') return 'loaded';
  if (state === 'starting' || state === 'backoff') return 'loading';
  return 'unloaded';
}

/** Never the argv (it may hold an api key) and never a probe: what the router already knows. */
export function modelsList(models: ModelInfo[]): Record<string, unknown> {
  return {
    object: 'list',
    data: models.map((model) => ({
      id: model.id,
      object: 'model',
      owned_by: 'infer-entry',
      aliases: model.ids.filter((id) => id !== model.id),
      status: { value: statusValue(model.state), ...(model.state === 'failed' ? { failed: true } : {}) },
    })),
  };
}

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  501: 'not_supported_error',
  503: 'unavailable_error',
};

export function llamaCppError(status: number, message: string): Record<string, unknown> {
  return { error: { code: status, message, type: TYPES[status] ?? 'server_error' } };
}

export function registerLlamaCppRouterRoutes(routes: RouteTable, core: RouterCore, options: LlamaCppRouteOptions): RouteTable {
  const wrap = (fn: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void) => async (req: IncomingMessage, res: ServerResponse) => {
    try {
      await fn(req, res);
    } catch (error) {
      fail(res, error);
    }
  };
  const known = (id: string): ModelInfo => {
    const model = core.resolve(id);
    if (!model) throw new RouterError(404, 'model_not_found', `model "${id}" not found; GET /models lists the configured ids`);
    return model;
  };
  const bodyModel = async (req: IncomingMessage): Promise<ModelInfo> => {
    const request = await readJson(req, options.maxBodyBytes);
    if (typeof request.model !== 'string' || request.model === '') throw new RouterError(400, 'bad_request', '"model" is required');
    return known(request.model);
  };

  routes.add('GET', '/models', (_req, res) => sendJson(res, 200, modelsList(core.models())));
  routes.add('POST', '/models/load', wrap(async (req, res) => {
    const model = await bodyModel(req);
    await core.load(model.id, disconnectSignal(req, res));
    sendJson(res, 200, { success: true });
  }));
  routes.add('POST', '/models/unload', wrap(async (req, res) => {
    const model = await bodyModel(req);
    await core.unload(model.id);
    sendJson(res, 200, { success: true });
  }));
  const refuse = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    sendJson(res, 501, llamaCppError(501, "models are configured in infer-entry's TOML file ([instance.NAME] sections), not downloaded or deleted through the API; edit it and run `infer-entry reload`"));
  };
  routes.add('POST', '/models', refuse);
  routes.add('DELETE', '/models', refuse);
  routes.add('GET', '/props', wrap(async (req, res) => {
    const query = new URL(req.url ?? '/', 'http://router').searchParams;
    const id = query.get('model');
    if (!id) throw new RouterError(400, 'bad_request', 'GET /props needs ?model=ID in router mode; GET /models lists the ids');
    const model = known(id);
    if (query.get('autoload') === 'false' && statusValue(model.state) !== 'loaded') {
      throw new RouterError(400, 'bad_request', `model "${id}" is not loaded and autoload=false`);
    }
    const result = await core.forward({ model: model.id, method: 'GET', path: '/props', client: clientKey(req), signal: disconnectSignal(req, res) });
    const headers: Record<string, string> = {};
    const type = result.headers['content-type'];
    if (typeof type === 'string') headers['content-type'] = type;
    res.writeHead(result.status, headers);
    writeBody(res, result.body, { end: () => res.end(), error: () => res.destroy() });
  }));
  return routes;
}

function fail(res: ServerResponse, error: unknown): void {
    // The client is gone (its disconnect aborted the upstream read): nobody to answer.
    if (res.destroyed) return;
  if (error instanceof RouterError && error.code === 'client_closed') {
    res.destroy();
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof RouterError) {
    const headers: Record<string, string> = error.retryAfterSeconds !== undefined ? { 'retry-after': String(error.retryAfterSeconds) } : {};
    sendJson(res, error.status, llamaCppError(error.status, error.message), headers);
    return;
  }
  sendJson(res, 500, llamaCppError(500, 'internal error in the router; see the infer-entry log'));
}
