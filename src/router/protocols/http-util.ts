/** Small HTTP helpers the protocol routes share: bounded JSON bodies, JSON answers, who is asking. */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { RouterError } from '../types.js';

/** The request body as JSON; RouterError 413 past `maxBytes`, 400 when it is not a JSON object. */
export async function readJson(req: IncomingMessage, maxBytes: number, required = true): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw new RouterError(413, 'body_too_large', `request body is larger than max_body (${maxBytes} bytes)`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    if (required) throw new RouterError(400, 'bad_request', 'request body must be a JSON object');
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RouterError(400, 'bad_request', 'request body is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new RouterError(400, 'bad_request', 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Fairness key: a hash of the API key (never the key), else X-Client-Id, else the remote address. */
export function clientKey(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth) return `key:${createHash('sha256').update(auth).digest('hex').slice(0, 16)}`;
  const id = req.headers['x-client-id'];
  if (typeof id === 'string' && id !== '') return `id:${id}`;
  return `addr:${req.socket.remoteAddress ?? 'unknown'}`;
}

/** Aborts when the client goes away before the answer is complete. */
export function disconnectSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const abort = () => {
    if (!res.writableFinished) controller.abort(new RouterError(499, 'client_closed', 'the client closed the connection'));
  };
  res.once('close', abort);
  req.once('aborted', abort);
  return controller.signal;
}

/** The message of an upstream error body in OpenAI's or llama-server's shape, else the text itself. */
export function upstreamMessage(text: string, status: number): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    if (typeof parsed.error === 'string') return parsed.error;
    if (parsed.error?.message) return parsed.error.message;
    if (parsed.message) return parsed.message;
  } catch {
    // not JSON: fall through
  }
  return text.trim() || `the model's instance answered HTTP ${status}`;
}
