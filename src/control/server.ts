/**
 * The daemon's listeners: the control socket (owner-only, every route) and
 * the optional read-only TCP status listener for Docker/Kubernetes probes
 * and Prometheus scrapes.
 */
import http from 'node:http';
import fs from 'node:fs/promises';
import { ConfigError, CannotCreateError, errnoCode } from '../errors.js';
import { ENV } from '../env.js';
import { claimSocketPath, listenOwnerOnly } from './socket-file.js';
import { createRouteHandler, type ControlDeps } from './routes.js';

export interface Listener {
  /** Where it listens: the socket path or host:port. */
  address: string;
  close(): Promise<void>;
}

function closer(server: http.Server, after?: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Streaming `logs -f` answers never end by themselves.
      server.closeAllConnections();
      await closed;
      await after?.();
    })());
}

export async function startControlServer(socketPath: string, deps: ControlDeps): Promise<Listener> {
  await claimSocketPath(socketPath);
  const server = http.createServer(createRouteHandler(deps));
  await listenOwnerOnly(server, socketPath);
  deps.log.info({ socket: socketPath }, 'control socket listening');
  return {
    address: socketPath,
    close: closer(server, async () => {
      await fs.rm(socketPath, { force: true });
    }),
  };
}

export interface StatusAddr {
  host: string;
  port: number;
}

/** `host:port`, `[::1]:port` or `:port` (= 127.0.0.1). */
export function parseStatusAddr(raw: string): StatusAddr {
  const text = raw.trim();
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError('E_STATUS_ADDR', `${ENV.STATUS_ADDR}=${JSON.stringify(raw)} is not host:port`, {
      hint: `use e.g. ${ENV.STATUS_ADDR}=127.0.0.1:9464 (this container only) or 0.0.0.0:9464 (reachable from outside), or unset it`,
    });
  }
  const host = match[1] ?? (match[2] === '' ? '127.0.0.1' : match[2]!);
  return { host, port };
}

export async function startStatusListener(addr: StatusAddr, deps: ControlDeps): Promise<Listener> {
  const server = http.createServer(createRouteHandler(deps, { readOnly: true }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new CannotCreateError('E_STATUS_LISTEN', `cannot listen on ${ENV.STATUS_ADDR} ${addr.host}:${addr.port} (${errnoCode(error) ?? error.message})`, {
          hint: 'pick a free port or unset the variable',
          cause: error,
        }),
      ),
    );
    server.listen(addr.port, addr.host, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? `${bound.address}:${bound.port}` : `${addr.host}:${addr.port}`;
  deps.log.info({ address }, 'status listener (read-only: /healthz /readyz /metrics) listening');
  return { address, close: closer(server) };
}
