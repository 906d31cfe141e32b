import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProbe } from '../../../src/supervisor/probe.js';
import { isPortFree } from '../../../src/supervisor/port-free.js';
import { freePort } from './fixtures.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function serve(handler: http.RequestListener): Promise<number> {
  server = http.createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

describe('health probe', () => {
  it('200 is ok; 503 Loading model is loading', async () => {
    let status = 503;
    const port = await serve((_req, res) => {
      res.writeHead(status);
      res.end(status === 200 ? '{"status":"ok"}' : '{"error":{"message":"Loading model"}}');
    });
    expect(await httpProbe({ host: '127.0.0.1', port, path: '/health', timeoutMs: 2_000 })).toMatchObject({ ok: false, status: 503, loading: true });
    status = 200;
    expect(await httpProbe({ host: '127.0.0.1', port, path: '/health', timeoutMs: 2_000 })).toMatchObject({ ok: true, status: 200, error: null });
  });

  it('a server that accepts but never answers times out', async () => {
    const port = await serve(() => undefined);
    expect(await httpProbe({ host: '127.0.0.1', port, path: '/health', timeoutMs: 200 })).toMatchObject({ ok: false, status: null, error: 'timed out after 200 ms' });
  });

  it('nothing listening is refused; an abort ends the probe', async () => {
    const port = await freePort();
    expect(await httpProbe({ host: '127.0.0.1', port, path: '/health', timeoutMs: 2_000 })).toMatchObject({ ok: false, refused: true });
    const hung = await serve(() => undefined);
    const ctl = new AbortController();
    const probe = httpProbe({ host: '127.0.0.1', port: hung, path: '/health', timeoutMs: 60_000, signal: ctl.signal });
    ctl.abort();
    expect(await probe).toMatchObject({ ok: false, error: 'aborted' });
  });

  it('port check: a bound port is in use, a released one is free', async () => {
    const port = await serve(() => undefined);
    expect(await isPortFree('127.0.0.1', port)).toBe(false);
    expect(await isPortFree('0.0.0.0', port)).toBe(false);
    expect(await isPortFree('127.0.0.1', await freePort())).toBe(true);
  });
});
