// INTERIM, until the router core (RouterCore over the scheduler and the supervisor) is merged:
// forwards straight to one upstream so the protocol routes can be driven by the real clients.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { RouteTable } from '../../../../src/router/routes.js';
import type { ForwardRequest, ForwardResult, ModelInfo, RouterCore } from '../../../../src/router/types.js';
import { RouterError } from '../../../../src/router/types.js';
import { modelInfo } from './model-info.js';

export function interimCore(port: number, models: Array<Partial<ModelInfo>>): RouterCore & { list: ModelInfo[]; keepAlive: Array<number | undefined> } {
  const list = models.map((m) => modelInfo({ port, ...m }));
  const keepAlive: Array<number | undefined> = [];
  const resolve = (id: string) => list.find((m) => m.ids.includes(id));
  return {
    list,
    keepAlive,
    models: () => list,
    resolve,
    async load(id) {
      const m = resolve(id)!;
      m.state = 'ready';
      return m;
    },
    async unload(id) {
      const m = resolve(id)!;
      m.state = 'stopped';
      return m;
    },
    forward(request: ForwardRequest): Promise<ForwardResult> {
      const m = resolve(request.model);
      if (!m) return Promise.reject(new RouterError(404, 'model_not_found', `model ${request.model} not found`));
      m.state = 'ready';
      keepAlive.push(request.keepAliveMs);
      return new Promise((ok, fail) => {
        const upstream = http.request({ host: '127.0.0.1', port, method: request.method, path: request.path, headers: request.headers, signal: request.signal }, (res) => {
          ok({ status: res.statusCode ?? 502, headers: res.headers, body: res, release: () => undefined });
        });
        upstream.on('error', fail);
        upstream.end(request.body);
      });
    },
  };
}

export async function serve(routes: RouteTable): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const match = routes.match(req.method ?? 'GET', path);
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    void match.handler(req, res, match.params);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
