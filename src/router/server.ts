/** A listener that dispatches through a route table; the router and a second protocol port share it. */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import { sendError } from './http.js';
import type { RouteTable } from './routes.js';
import { RouterError } from './types.js';

export interface ListenerOptions {
  routes: RouteTable;
  log: Logger;
  /** Keys a client must present as `Authorization: Bearer KEY`; empty = open. Never logged. */
  apiKeys: string[];
  /** Paths served without a key (health checks of orchestrators). */
  openPaths?: string[];
}

export interface Listener {
  server: http.Server;
  listen(host: string, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
}

const RESPONSE_HIGH_WATER_MARK = 4096;

export function createListener(options: ListenerOptions): Listener {
  const digests = options.apiKeys.map((key) => digest(key));
  const open = new Set(options.openPaths ?? ['/health']);
  // highWaterMark: what a slow reader may leave buffered per response before the upstream read
  // pauses (tokens are ~100–300 bytes; the default 16 KB × 256 streams is 4 MB of idle buffers).
  const server = http.createServer({ noDelay: true, keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000, highWaterMark: RESPONSE_HIGH_WATER_MARK }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (digests.length > 0 && !open.has(path) && !authorized(req.headers.authorization, digests)) {
      return sendError(res, new RouterError(401, 'unauthorized', 'Missing or wrong API key; send "Authorization: Bearer <key>" with a key from INFER_ENTRY_ROUTER_API_KEYS.'));
    }
    const match = options.routes.match(req.method ?? 'GET', path);
    if (!match) return sendError(res, new RouterError(404, 'not_found', `No route for ${req.method} ${path}.`));
    Promise.resolve(match.handler(req, res, match.params)).catch((error: unknown) => {
      options.log.error({ step: 'router', err: error, path }, 'a router handler failed');
      sendError(res, error);
    });
  });
  return {
    server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

function authorized(header: string | undefined, digests: Buffer[]): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = digest(match[1]!.trim());
  return digests.some((d) => timingSafeEqual(d, given));
}
