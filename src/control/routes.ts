/**
 * The route table of the control plane: HTTP/JSON handling, shared by the Unix socket (every
 * route) and the optional TCP status listener (read-only routes only).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ExitCode, InferEntryError, UsageError } from '../errors.js';
import { unknownInstanceError } from '../supervisor/supervisor.js';
import type { SupervisorApi } from '../supervisor/types.js';
import { VERSION } from '../version.js';
import {
  DEFAULT_LOG_LINES,
  INSTANCE_ACTIONS,
  PUBLIC_ROUTES,
  ROUTES,
  errorBody,
  httpStatusFor,
  type HealthBody,
  type InstanceAction,
  type InstancesBody,
  type ReadyBody,
  type ReloadBody,
} from './api.js';
import type { DaemonMetrics } from './metrics.js';

export interface ControlDeps {
  supervisor: SupervisorApi;
  metrics: DaemonMetrics;
  log: Logger;
  /** Load a config file (absent: the current one) into the supervisor; throws ConfigInvalidError when invalid. */
  reload(file: string | undefined): Promise<ReloadBody>;
  /** The config file loaded last, if any. */
  configFile(): string | null;
  /** What the daemon is still doing before it can be ready (install, config), or null. */
  startingPhase?(): string | null;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

const MAX_BODY_BYTES = 64 * 1024;

/** zod, for the few requests with a body: loaded by the first of them, not at boot. */
const requestBodies = () => import('./request-bodies.js');

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown): void {
  const wrapped =
    error instanceof InferEntryError
      ? error
      : new InferEntryError('E_DAEMON_INTERNAL', ExitCode.SOFTWARE, `the daemon failed: ${error instanceof Error ? error.message : String(error)}`, {
          hint: "see the daemon's log for details; please report it",
        });
  sendJson(res, httpStatusFor(wrapped), errorBody(wrapped));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new UsageError(`request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new UsageError('request body is not valid JSON');
  }
}

function readiness(supervisor: SupervisorApi, starting: string | null): ReadyBody {
  if (starting) return { ready: false, starting, notReady: [] };
  const notReady = supervisor
    .list()
    .filter((status) => status.enabled && status.state !== 'ready')
    .map((status) => ({ name: status.name, state: status.state }));
  return { ready: notReady.length === 0, notReady };
}

/** A request line that is not a URL, or a name that is not valid percent-encoding, is the client's mistake (400), never a 500. */
function parseUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://daemon');
  } catch {
    throw new UsageError(`request target ${JSON.stringify(raw)} is not a valid URL path`);
  }
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new UsageError(`${JSON.stringify(part)} is not valid percent-encoding (expected an instance name, with %XX escapes of UTF-8 bytes)`);
  }
}

function notFound(method: string, pathname: string): InferEntryError {
  return new InferEntryError('E_NO_ROUTE', ExitCode.USAGE, `no control endpoint ${method} ${pathname}`, {
    hint: `see README.md: ${ROUTES.instances}, ${ROUTES.reload}, ${ROUTES.healthz}, ${ROUTES.readyz}, ${ROUTES.metrics}`,
  });
}

export function createRouteHandler(deps: ControlDeps, options: { readOnly?: boolean } = {}): RequestHandler {
  const { supervisor, log } = deps;
  const unknown = (name: string) => unknownInstanceError(name, supervisor.list().map((s) => s.name));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseUrl(req.url);
    // HEAD is a GET without the body (Node's response drops it): probes and curl -I use it.
    const head = req.method === 'HEAD';
    const method = head ? 'GET' : (req.method ?? 'GET');
    const pathname = url.pathname.replace(/\/+$/, '') || '/';
    if (options.readOnly && !PUBLIC_ROUTES.has(pathname)) throw notFound(method, pathname);

    if (method === 'GET' && pathname === ROUTES.healthz) {
      const body: HealthBody = { ok: true, pid: process.pid, version: VERSION, config: deps.configFile() };
      return sendJson(res, 200, body);
    }
    if (method === 'GET' && pathname === ROUTES.readyz) {
      const body = readiness(supervisor, deps.startingPhase?.() ?? null);
      return sendJson(res, body.ready ? 200 : 503, body);
    }
    if (method === 'GET' && pathname === ROUTES.metrics) {
      const text = await deps.metrics.render();
      res.writeHead(200, { 'content-type': deps.metrics.contentType });
      res.end(text);
      return;
    }
    if (method === 'GET' && pathname === ROUTES.instances) {
      const body: InstancesBody = { instances: supervisor.list() };
      return sendJson(res, 200, body);
    }
    if (method === 'POST' && pathname === ROUTES.reload) {
      const { parseBody, reloadRequestSchema } = await requestBodies();
      const request = parseBody('reload', reloadRequestSchema, await readJson(req));
      return sendJson(res, 200, await deps.reload(request.file));
    }
    if (method === 'POST' && pathname === ROUTES.wait) {
      return wait(req, res);
    }
    const match = /^\/v1\/instances\/([^/]+)(?:\/([a-z]+))?$/.exec(pathname);
    if (match) {
      const name = decodePart(match[1]!);
      const action = match[2];
      if (action === undefined && method === 'GET') {
        const status = supervisor.get(name);
        if (!status) throw unknown(name);
        return sendJson(res, 200, status);
      }
      if (action === 'logs' && method === 'GET') return logs(req, res, name, url, head);
      if (action !== undefined && method === 'POST' && (INSTANCE_ACTIONS as readonly string[]).includes(action)) {
        if (!supervisor.get(name)) throw unknown(name);
        const status = await supervisor[action as InstanceAction](name);
        return sendJson(res, 200, status);
      }
    }
    throw notFound(method, pathname);
  }

  async function wait(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { parseBody, waitRequestSchema } = await requestBodies();
    const request = parseBody('wait', waitRequestSchema, await readJson(req));
    for (const name of request.names) if (!supervisor.get(name)) throw unknown(name);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), request.timeoutMs);
    const onClose = () => controller.abort();
    res.once('close', onClose);
    try {
      await supervisor.waitSettled(request.names, controller.signal).catch(() => undefined);
    } finally {
      clearTimeout(timer);
      res.off('close', onClose);
    }
    if (res.destroyed) return;
    const names = new Set(request.names);
    const body: InstancesBody = { instances: supervisor.list().filter((s) => names.has(s.name)) };
    sendJson(res, 200, body);
  }

  function logs(req: IncomingMessage, res: ServerResponse, name: string, url: URL, head: boolean): void {
    if (!supervisor.get(name)) throw unknown(name);
    const nParam = url.searchParams.get('n');
    const n = nParam === null ? DEFAULT_LOG_LINES : Number(nParam);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`logs: n=${nParam} is not a whole number ≥ 0`);
    const follow = url.searchParams.get('follow') === '1' && !head;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', ...(follow ? { 'cache-control': 'no-cache' } : {}) });
    const tail = n === 0 ? [] : supervisor.logs(name, n);
    if (tail.length > 0) res.write(`${tail.join('\n')}\n`);
    if (!follow) {
      res.end();
      return;
    }
    const unsubscribe = supervisor.followLogs(name, (line) => res.write(`${line}\n`));
    req.socket.setKeepAlive(true);
    res.once('close', unsubscribe);
  }

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!(error instanceof InferEntryError)) log.error({ err: error, url: req.url }, 'control request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, error);
    });
  };
}
