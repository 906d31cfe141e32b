/**
 * Connections to the instances: one keep-alive undici pool per instance (no Nagle, no
 * compression), bodies streamed with backpressure. Nothing here queues or retries.
 */
import type { Readable } from 'node:stream';
import { Pool } from 'undici';

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
  body: Readable;
}

/** Hop-by-hop and encoding headers: never forwarded in either direction. */
export const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host', 'content-length', 'accept-encoding']);

export class Upstreams {
  private readonly pools = new Map<string, { key: string; pool: Pool }>();

  private poolOf(target: UpstreamTarget): Pool {
    const origin = `http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    const known = this.pools.get(target.name);
    if (known && known.key === origin) return known.pool;
    if (known) void known.pool.close().catch(() => undefined);
    // Long generations: no body or headers timeout; the client's disconnect aborts instead.
    const pool = new Pool(origin, { connections: 256, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connect: { noDelay: true } as never });
    this.pools.set(target.name, { key: origin, pool });
    return pool;
  }

  async request(
    target: UpstreamTarget,
    options: { method: string; path: string; headers?: Record<string, string>; body?: Uint8Array; signal: AbortSignal },
  ): Promise<UpstreamResponse> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.headers ?? {})) if (!HOP_HEADERS.has(k.toLowerCase()) && k.toLowerCase() !== 'authorization') headers[k.toLowerCase()] = v;
    if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
    const response = await this.poolOf(target).request({
      method: options.method as 'GET',
      path: options.path,
      headers,
      body: options.body && options.body.byteLength > 0 ? Buffer.from(options.body.buffer, options.body.byteOffset, options.body.byteLength) : null,
      signal: options.signal,
      // Streams carry their own end; a slow reader pauses the socket read.
      highWaterMark: 64 * 1024,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
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
