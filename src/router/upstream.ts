/**
 * Connections to the instances: one keep-alive undici pool per instance (no Nagle, no
 * compression). Answers come through undici's dispatch handler straight to one consumer (no
 * Readable and pipe per answer), with backpressure both ways. Nothing here queues or retries.
 */
import type { Dispatcher } from 'undici';

import { Pool } from './undici-pool.js';

export interface UpstreamTarget {
  name: string;
  host: string;
  port: number;
  /** The instance's own key (LLAMA_API_KEY); sent upstream, never logged. */
  apiKey: string | undefined;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: UpstreamBody;
}

/** Where an answer's bytes go. */
export interface BodySink {
  /** One chunk; false = the reader is full: the upstream read pauses until `body.resume()`. */
  data(chunk: Buffer): boolean;
  end(): void;
  /** Upstream failed mid-body, or the request was aborted (client gone). */
  error(error: Error): void;
}

/** The body of one upstream answer, read by exactly one consumer. */
export interface UpstreamBody {
  /** Attach the consumer; chunks that arrived before are delivered first. */
  consume(sink: BodySink): void;
  /** The consumer drained: read upstream again. */
  resume(): void;
  /** Abort the upstream request (its socket is closed at once). */
  destroy(reason?: Error): void;
  /** The whole body as text (small answers). */
  text(): Promise<string>;
  /** Called once when the body ended, failed or was aborted; `aborted` when the request's signal did it. */
  onSettled(fn: (aborted: boolean) => void): void;
}

/** Hop-by-hop and encoding headers: never forwarded in either direction. */
export const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'content-length', 'accept-encoding']);

export class Upstreams {
  private readonly pools = new Map<string, { key: string; pool: Pool }>();

  private poolOf(target: UpstreamTarget): Pool {
    const known = this.pools.get(target.name);
    // The port is what changes on a restart; the origin string is only built when a pool is made.
    if (known && known.key === `${target.host}:${target.port}`) return known.pool;
    if (known) void known.pool.close().catch(() => undefined);
    const origin = `http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    // Long generations: no body or headers timeout; the client's disconnect aborts instead. Idle
    // sockets close after 4 s, before llama-server's own 5 s keep-alive does (a socket it closed
    // under us would fail the next request), and so a burst's sockets do not stay with the idle router.
    const pool = new Pool(origin, { connections: 256, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000, headersTimeout: 0, bodyTimeout: 0, connect: { noDelay: true } as never });
    this.pools.set(target.name, { key: `${target.host}:${target.port}`, pool });
    return pool;
  }

  request(
    target: UpstreamTarget,
    options: { method: string; path: string; headers?: Record<string, string>; body?: Uint8Array; signal: AbortSignal },
  ): Promise<UpstreamResponse> {
    const headers: Record<string, string> = {};
    if (options.headers) {
      for (const k in options.headers) {
        const name = k.toLowerCase();
        if (!HOP_HEADERS.has(name) && name !== 'authorization') headers[name] = options.headers[k]!;
      }
    }
    if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
    const body = options.body;
    const call = new UpstreamCall(options.signal);
    this.poolOf(target).dispatch(
      {
        method: options.method as Dispatcher.HttpMethod,
        path: options.path,
        headers,
        body: body && body.byteLength > 0 ? (Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)) : null,
      },
      call,
    );
    return call.response;
  }

  /** Drop the pool of an instance that stopped (its sockets are dead anyway). */
  forget(name: string): void {
    const known = this.pools.get(name);
    if (!known) return;
    this.pools.delete(name);
    void known.pool.destroy().catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map(({ pool }) => pool.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}

const enum State {
  Waiting,
  Open,
  Ended,
  Failed,
}

/**
 * undici's handler and the answer's body in one object, listening to the client's signal itself
 * (as an EventListener object: no closure per request). Until a consumer attaches, arrived chunks
 * are held with the socket paused, so nothing is buffered beyond one read.
 */
class UpstreamCall implements Dispatcher.DispatchHandler, UpstreamBody {
  readonly response: Promise<UpstreamResponse>;
  private resolve!: (response: UpstreamResponse) => void;
  private reject!: (error: Error) => void;
  private state = State.Waiting;
  private controller: Dispatcher.DispatchController | null = null;
  private sink: BodySink | null = null;
  private held: Buffer[] | null = null;
  /** The consumer said it is full; only its resume() reads on. */
  private full = false;
  private failure: Error | null = null;
  private abortedBySignal = false;
  private settledFns: Array<(aborted: boolean) => void> | null = null;

  constructor(private readonly signal: AbortSignal) {
    this.response = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (signal.aborted) this.handleEvent();
    else signal.addEventListener('abort', this, { once: true });
  }

  /** The client's signal fired. */
  handleEvent(): void {
    this.abortedBySignal = true;
    this.destroy(abortError());
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.state === State.Failed) controller.abort(this.failure!);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.state !== State.Waiting) return;
    this.state = State.Open;
    this.resolve({ status: statusCode, headers, body: this });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.state !== State.Open) return;
    if (this.sink) {
      if (!this.sink.data(chunk)) {
        this.full = true;
        controller.pause();
      }
      return;
    }
    (this.held ??= []).push(chunk);
    controller.pause();
  }

  onResponseEnd(): void {
    if (this.state !== State.Open) return;
    this.state = State.Ended;
    this.settle();
    this.sink?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  consume(sink: BodySink): void {
    if (this.sink) throw new Error('an upstream body has one consumer');
    this.sink = sink;
    const held = this.held;
    this.held = null;
    if (held) for (const chunk of held) if (!sink.data(chunk)) this.full = true;
    if (this.state === State.Ended) sink.end();
    else if (this.state === State.Failed) sink.error(this.failure!);
    else if (!this.full) this.controller?.resume();
  }

  resume(): void {
    this.full = false;
    if (this.state === State.Open) this.controller?.resume();
  }

  destroy(reason: Error = abortError()): void {
    if (this.state === State.Ended || this.state === State.Failed) return;
    this.fail(reason);
    this.controller?.abort(reason);
  }

  text(): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      this.consume({
        data: (chunk) => chunks.push(chunk) > 0,
        end: () => resolve(Buffer.concat(chunks).toString('utf8')),
        error: reject,
      });
    });
  }

  onSettled(fn: (aborted: boolean) => void): void {
    if (this.state === State.Ended || this.state === State.Failed) fn(this.abortedBySignal);
    else (this.settledFns ??= []).push(fn);
  }

  private fail(error: Error): void {
    if (this.state === State.Ended || this.state === State.Failed) return;
    const before = this.state === State.Waiting;
    this.state = State.Failed;
    this.failure = error;
    this.held = null;
    this.settle();
    if (before) this.reject(error);
    else this.sink?.error(error);
  }

  private settle(): void {
    this.signal.removeEventListener('abort', this);
    const fns = this.settledFns;
    this.settledFns = null;
    if (fns) for (const fn of fns) fn(this.abortedBySignal);
  }
}

function abortError(): Error {
  const error = new Error('The client closed the request.');
  error.name = 'AbortError';
  return error;
}
