// The router's upstream connections against a scripted TCP server on 127.0.0.1: what goes on the
// wire, keep-alive reuse, a keep-alive close racing a request, and aborts.
import net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { Upstreams, type UpstreamTarget } from '../../../src/router/upstream.js';

interface Script {
  /** Called with each complete request head (and body bytes so far) on a connection; returns what to send, or 'close'. */
  answer(request: string, connection: number): string | 'close' | null;
}

async function scripted(script: Script): Promise<{ target: UpstreamTarget; connections: () => number; closed: () => number; requests: string[]; server: net.Server; cut: () => void; reset: () => void }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let closed = 0;
  const requests: string[] = [];
  const server = net.createServer((socket) => {
    const id = ++connections;
    sockets.add(socket);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const request = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        requests.push(request);
        const out = script.answer(request, id);
        if (out === 'close') socket.destroy();
        else if (out !== null) socket.write(out);
      }
    });
    socket.on('close', () => {
      closed++;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const { port } = server.address() as net.AddressInfo;
  return { target: { name: 'm', host: '127.0.0.1', port, apiKey: 'sk-upstream' }, connections: () => connections, closed: () => closed, requests, server, cut: () => sockets.forEach((s) => s.destroy()), reset: () => sockets.forEach((s) => s.resetAndDestroy()) };
}

const servers: net.Server[] = [];
const upstreams: Upstreams[] = [];
afterEach(async () => {
  for (const u of upstreams.splice(0)) await u.close();
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

function client(): Upstreams {
  const u = new Upstreams();
  upstreams.push(u);
  return u;
}

const ok = (body: string) => `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const signal = () => new AbortController().signal;
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('upstream connections', () => {
  it('sends the request with the instance key and a length, drops hop-by-hop and client auth headers, and reuses the connection', async () => {
    const up = await scripted({ answer: () => ok('{"n":1}') });
    const u = client();
    for (let i = 0; i < 3; i++) {
      const res = await u.request(up.target, {
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', Connection: 'close', authorization: 'Bearer client-key', 'transfer-encoding': 'chunked' },
        body: Buffer.from('{"model":"m"}'),
        signal: signal(),
      });
      expect(res.status).toBe(200);
      expect(await res.body.text()).toBe('{"n":1}');
    }
    expect(up.connections()).toBe(1);
    const first = up.requests[0]!;
    expect(first.startsWith('POST /v1/chat/completions HTTP/1.1\r\n')).toBe(true);
    expect(first).toContain('authorization: Bearer sk-upstream\r\n');
    expect(first).toContain('content-length: 13\r\n');
    expect(first).not.toContain('client-key');
    expect(first.toLowerCase()).not.toContain('connection:');
    expect(first.toLowerCase()).not.toContain('transfer-encoding');
    expect(first.endsWith('\r\n\r\n{"model":"m"}')).toBe(true);
  });

  it('sends a request again on a new connection when the kept-alive one was closed before answering', async () => {
    // The server answers once per connection and closes it when a second request comes on it.
    const answered = new Set<number>();
    const up = await scripted({ answer: (_r, connection) => (answered.has(connection) ? 'close' : (answered.add(connection), ok('{}'))) });
    const u = client();
    const a = await u.request(up.target, { method: 'GET', path: '/props', signal: signal() });
    await a.body.text();
    const b = await u.request(up.target, { method: 'GET', path: '/props', signal: signal() });
    expect(b.status).toBe(200);
    expect(await b.body.text()).toBe('{}');
    expect(up.connections()).toBe(2);
  });

  it('does not send again when a reused connection closed long after the request (the instance died working on it)', async () => {
    let count = 0;
    const up = await scripted({
      answer: (_r, connection) => {
        count++;
        if (count === 1) return ok('{}');
        // The second request: no answer, the connection closed later, as a killed instance's would be.
        setTimeout(() => up.cut(), 600);
        void connection;
        return null;
      },
    });
    const u = client();
    await (await u.request(up.target, { method: 'GET', path: '/props', signal: signal() })).body.text();
    await expect(u.request(up.target, { method: 'POST', path: '/v1/chat/completions', body: Buffer.from('{}'), signal: signal() })).rejects.toThrow();
    expect(up.requests).toHaveLength(2);
  });

  it('a reset ends a body without a length as a failure, not as its end', async () => {
    const up = await scripted({
      answer: () => {
        setTimeout(() => up.reset(), 50);
        return 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npartial';
      },
    });
    const res = await client().request(up.target, { method: 'GET', path: '/x', signal: signal() });
    await expect(res.body.text()).rejects.toThrow(/ECONNRESET/);
  });

  it('does not send again once the answer had begun: the body fails instead', async () => {
    const up = await scripted({ answer: () => 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial' });
    const u = client();
    const res = await u.request(up.target, { method: 'GET', path: '/x', signal: signal() });
    const text = res.body.text();
    up.cut();
    await expect(text).rejects.toThrow(/closed before the answer was complete/);
    expect(up.requests).toHaveLength(1);
  });

  it('a refused connection rejects the request (the router retries after the restart, not here)', async () => {
    const up = await scripted({ answer: () => null });
    await new Promise((resolve) => up.server.close(resolve));
    servers.length = 0;
    await expect(client().request(up.target, { method: 'GET', path: '/health', signal: signal() })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('an abort closes the upstream connection at once, mid-answer', async () => {
    const up = await scripted({ answer: () => 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n' });
    const u = client();
    const ctl = new AbortController();
    const res = await u.request(up.target, { method: 'POST', path: '/v1/chat/completions', body: Buffer.from('{}'), signal: ctl.signal });
    const settled = new Promise<boolean>((resolve) => res.body.onSettled(resolve));
    const got: string[] = [];
    const failed = new Promise<Error>((resolve) => res.body.consume({ data: (c) => got.push(c.toString()) > 0, end: () => undefined, error: resolve }));
    await until(() => got.length > 0);
    ctl.abort();
    expect((await failed).name).toBe('AbortError');
    expect(await settled).toBe(true);
    await until(() => up.closed() === 1);
    expect(up.closed()).toBe(1);
    expect(got.join('')).toBe('hello');
  });

  it('a consumer that refuses what arrived before it attached gets it as the body failing, not as a throw', async () => {
    const events = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n';
    const up = await scripted({ answer: (request) => (request.includes('/ended') ? `${events}0\r\n\r\n` : events) });
    const u = client();
    const refusing = (body: { consume: (sink: never) => void }) =>
      new Promise<{ error: Error | null; ended: boolean }>((resolve) => {
        let ended = false;
        body.consume({
          data: () => {
            throw new Error('cannot read this frame');
          },
          end: () => (ended = true),
          error: (error: Error) => resolve({ error, ended }),
        } as never);
      });
    // The whole answer came before the consumer: the body had ended.
    const ended = await u.request(up.target, { method: 'POST', path: '/ended', body: Buffer.from('{}'), signal: signal() });
    await new Promise((r) => setTimeout(r, 50));
    expect(await refusing(ended.body)).toEqual({ error: new Error('cannot read this frame'), ended: false });
    // Half of it came: the body fails, and its connection (mid-answer) is closed rather than reused.
    const open = await u.request(up.target, { method: 'POST', path: '/open', body: Buffer.from('{}'), signal: signal() });
    await new Promise((r) => setTimeout(r, 50));
    expect((await refusing(open.body)).error?.message).toBe('cannot read this frame');
    await until(() => up.closed() === 1);
    expect(up.closed()).toBe(1);
  });

  it('refuses to put a control character into the request line or a header', async () => {
    const up = await scripted({ answer: () => ok('{}') });
    const u = client();
    await expect(u.request(up.target, { method: 'GET', path: '/a\r\nx-injected: 1', signal: signal() })).rejects.toThrow(/cannot carry/);
    await expect(u.request(up.target, { method: 'GET', path: '/a', headers: { accept: 'x\ny' }, signal: signal() })).rejects.toThrow(/cannot carry/);
    // Written as latin1, U+010D U+010A would be CR LF: a second request smuggled onto a pooled connection.
    const smuggled = `/health${decodeURIComponent('%C4%A0HTTP/1.1%C4%8D%C4%8A%C4%8D%C4%8AGET%C4%A0/slow')}`;
    await expect(u.request(up.target, { method: 'GET', path: smuggled, signal: signal() })).rejects.toMatchObject({ status: 400, code: 'bad_request' });
    await expect(u.request(up.target, { method: 'GET', path: '/a', headers: { accept: 'x\u010ay' }, signal: signal() })).rejects.toMatchObject({ status: 400 });
    expect(up.requests).toHaveLength(0);
  });
});
