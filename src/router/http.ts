/**
 * HTTP plumbing shared by every protocol: OpenAI-shaped errors with Retry-After, bounded body
 * reads, the fairness key, and piping an upstream answer to the client with backpressure.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { SSE_RAW_HOLD_MAX } from './http1-response-parser.js';
import { RouterError, type ForwardResult } from './types.js';
import type { UpstreamBody } from './upstream.js';

const TYPE_OF_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** `{"error":{"message","type","param","code"}}`, as OpenAI clients parse it. */
export function errorBody(error: RouterError): { error: { message: string; type: string; param: string | null; code: string; failure_class?: string } } {
  return {
    error: {
      message: error.message,
      type: TYPE_OF_STATUS[error.status] ?? 'server_error',
      param: error.code === 'model_not_found' ? 'model' : null,
      code: error.code,
      ...(error.failureClass ? { failure_class: error.failureClass } : {}),
    },
  };
}

export function asRouterError(error: unknown): RouterError {
  if (error instanceof RouterError) return error;
  return new RouterError(502, 'upstream_error', `The router could not reach the model: ${(error as Error)?.message ?? String(error)}`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: unknown): void {
  const e = asRouterError(error);
  if (e.code === 'client_closed') return void res.destroy();
  if (res.headersSent && !res.writableEnded) return void res.end(`data: ${JSON.stringify(errorBody(e))}\n\n`);
  const headers: Record<string, string> = {};
  if (e.retryAfterSeconds !== undefined) headers['retry-after'] = String(e.retryAfterSeconds);
  if (e.status === 413) headers.connection = 'close';
  sendJson(res, e.status, errorBody(e), headers);
}

/** The whole body, refusing more than `maxBytes` (413) without buffering the excess. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
    // A client that leaves mid-body: nothing to answer, but do not keep the promise alive.
    req.on('close', () => {
      if (!req.complete) reject(new RouterError(499, 'client_closed', 'The client closed the request.'));
    });
  });
}

function tooLarge(maxBytes: number): RouterError {
  return new RouterError(413, 'body_too_large', `The request body is larger than the router's max_body (${maxBytes} bytes); send less, or raise [router] max_body.`);
}

/** Parse once, only to find `model` (and whether a stream is asked for); the original bytes are what goes upstream. */
export function modelOf(body: Buffer): string {
  return requestOf(body).model;
}

export function requestOf(body: Buffer): { model: string; stream: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RouterError(400, 'bad_request', 'The request body is not valid JSON; send a JSON object with a "model" field.');
  }
  const model = (parsed as { model?: unknown } | null)?.model;
  if (typeof model !== 'string' || model === '') throw new RouterError(400, 'bad_request', 'The request body names no "model"; add "model": "<id>" (GET /v1/models lists them).');
  return { model, stream: (parsed as { stream?: unknown }).stream === true };
}

/** API key (hashed) when there is one, else X-Client-Id, else the peer address. */
export function clientOf(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth) return `key:${createHash('sha256').update(auth).digest('hex').slice(0, 16)}`;
  const id = req.headers['x-client-id'];
  if (typeof id === 'string' && id !== '') return `id:${id}`;
  return `addr:${req.socket.remoteAddress ?? '?'}`;
}

/** Aborts when the client goes away before its answer is complete. */
export function clientGone(res: ServerResponse): AbortController {
  const ctl = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ctl.abort();
  });
  return ctl;
}

const RESPONSE_SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'trailer', 'content-encoding']);

/**
 * Stream an upstream answer straight into the response. A reader that falls behind pauses the
 * upstream read until the response drains; a client that leaves aborts upstream through the
 * request's signal; an upstream that dies mid-stream ends an SSE answer with one error frame and
 * no [DONE].
 */
export function pipeResult(res: ServerResponse, result: ForwardResult): void {
  const type = result.headers['content-type'];
  const sse = typeof type === 'string' && type.startsWith('text/event-stream');
  const body = result.body;
  if (res.headersSent) {
    // A loading heartbeat already committed a 200 event stream: an upstream refusal becomes an error frame.
    if (result.status !== 200 || !sse) {
      body.destroy();
      result.release();
      const e = new RouterError(502, 'upstream_error', `The model answered ${result.status} after loading.`);
      res.end(`data: ${JSON.stringify(errorBody(e))}\n\n`);
      return;
    }
  } else {
    const headers: Record<string, string | string[]> = {};
    for (const k in result.headers) {
      const v = result.headers[k];
      if (v !== undefined && !RESPONSE_SKIP.has(k)) headers[k] = v;
    }
    headers['x-accel-buffering'] = 'no';
    try {
      res.writeHead(result.status, headers);
    } catch (error) {
      // Headers Node refuses to send (the parser lets none through; this is the last guard): the
      // body is dropped so its slot and grant are freed, and the caller answers 502.
      body.destroy();
      result.release();
      throw error;
    }
    // A stream's headers go out at once (clients show "connected"); a plain answer's go with its body.
    if (sse) res.flushHeaders();
  }
  writeBody(
    res,
    body,
    {
      end: () => res.end(),
      error: (error) => {
        if (res.destroyed) return;
        if (!sse) return void res.destroy();
        const e = new RouterError(502, 'upstream_error', `The model stopped answering mid-stream: ${error.message}`);
        res.end(`data: ${JSON.stringify(errorBody(e))}\n\n`);
      },
    },
    // Flushed above, or by the loading heartbeat's first comment. An SSE event is one chunk: held
    // whole (up to SSE_RAW_HOLD_MAX) so that an error frame never follows half of one.
    { headersFlushed: sse, ...(sse ? { rawHoldMax: SSE_RAW_HOLD_MAX } : {}) },
  );
}

/**
 * An upstream body into a response, the upstream read paused while the client is over its
 * high-water mark. When Node chose chunked for the response (an HTTP/1.1 client, no length), its
 * chunks are written to the client's socket here, headers first, and its end() writes the last
 * chunk: a chunked upstream answer goes on as it came (whole chunks with their framing, as each
 * read brought them; one that spans reads past the hold limit re-framed by the parser as it arrives,
 * so the client's framing still ends at a chunk boundary after every write), a translated one (`transform`: another protocol's framing) as one chunk per
 * upstream read. No decoding and framing again per token, which was most of the router's CPU per
 * streamed token. Otherwise (a length, or an HTTP/1.0 client) the chunks of one upstream read are
 * written to the response as one, once the read is parsed, as nginx does: nothing waits for more
 * than what has already arrived. The ends are the caller's.
 */
export function writeBody(
  res: ServerResponse,
  body: UpstreamBody,
  ends: { end(): void; error(error: Error): void },
  options: { transform?: (chunk: Buffer) => Buffer | string; headersFlushed?: boolean; rawHoldMax?: number } = {},
): void {
  const transform = options.transform;
  const socket = chunkedSocketOf(res, body, transform !== undefined, options.headersFlushed === true);
  // The client's socket refused our last direct write; its drain (or the response's) reads on.
  let full = false;
  const resume = () => {
    full = false;
    body.resume();
  };
  res.on('drain', resume);
  socket?.on('drain', resume);
  let buffers: Buffer[] = [];
  let translated: Array<Buffer | string> = [];
  let scheduled = false;
  const gone = () => res.destroyed || (socket !== null && socket.destroyed);
  const flush = () => {
    scheduled = false;
    if (gone()) {
      buffers = [];
      translated = [];
    } else if (translated.length > 0) {
      // One write of one buffer, its chunk framing included: no writev, no string encoded by the socket.
      if (socket) full = !socket.write(chunkOf(translated));
      else res.write(translated.length === 1 ? translated[0]! : Buffer.concat(translated.map((piece) => (typeof piece === 'string' ? Buffer.from(piece) : piece))));
      translated = [];
    } else if (buffers.length > 0) {
      res.write(buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers));
      buffers = [];
    }
  };
  const hold = () => {
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
    // Full as of the last write: at most one read more is held before the upstream pauses.
    return !res.writableNeedDrain && !full;
  };
  const done = () => {
    flush();
    socket?.off('drain', resume);
  };
  body.consume({
    data: transform
      ? (chunk) => {
          const out = transform(chunk);
          if (out.length === 0 || gone()) return true;
          translated.push(out);
          return hold();
        }
      : (chunk) => {
          if (gone()) return true;
          buffers.push(chunk);
          return hold();
        },
    ...(socket && !transform
      ? {
          raw: (chunk: Buffer) => {
            if (gone()) return true;
            // Chunks decoded before the consumer came are still to go, and go first.
            if (buffers.length > 0) flush();
            full = !socket.write(chunk);
            return !full;
          },
          ...(options.rawHoldMax === undefined ? {} : { rawHoldMax: options.rawHoldMax }),
        }
      : {}),
    end: () => {
      done();
      ends.end();
    },
    error: (error) => {
      done();
      ends.error(error);
    },
  });
}

/** Pieces of a response body as one chunk of chunked encoding: size line, bytes, CRLF. */
function chunkOf(pieces: Array<Buffer | string>): Buffer {
  let size = 0;
  for (const piece of pieces) size += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.length;
  const head = `${size.toString(16)}\r\n`;
  const chunk = Buffer.allocUnsafe(head.length + size + 2);
  let at = chunk.write(head, 0, 'latin1');
  for (const piece of pieces) at += typeof piece === 'string' ? chunk.write(piece, at) : piece.copy(chunk, at);
  chunk[at] = 13;
  chunk[at + 1] = 10;
  return chunk;
}

/**
 * The client's socket, with the response's headers sent, when this response is chunked (Node's
 * choice, made by writeHead) and its chunks are ours to frame: a chunked upstream answer, or a
 * translated one.
 */
function chunkedSocketOf(res: ServerResponse, body: UpstreamBody, translated: boolean, headersFlushed: boolean): Socket | null {
  if ((!translated && !body.chunked) || res.destroyed || !res.socket) return null;
  // Not in Node's typings, but part of OutgoingMessage since its beginning (as `useChunkedEncodingByDefault` is).
  if ((res as unknown as { chunkedEncoding?: unknown }).chunkedEncoding !== true) return null;
  // (`headersSent` is true once writeHead ran, before the headers are on the wire.)
  if (!headersFlushed) res.flushHeaders();
  return res.socket;
}
