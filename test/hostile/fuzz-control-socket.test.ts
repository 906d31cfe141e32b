/**
 * Property test of the control socket of a real daemon (`infer-entry boot`):
 * random byte streams and random HTTP requests (methods, malformed paths and
 * percent-encoding, `null`/array/garbage JSON bodies) never get a 500, and
 * `/healthz` keeps answering 200 after every one. A few edges are pinned too:
 * HEAD of the GET endpoints, bad percent-encoding and a null body are 400s.
 * Seed fixed; see test/fixtures/fuzz.ts to run longer.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzParams, fuzzTimeout } from '../fixtures/fuzz.js';
import { alive, baseEnv, fakePids, freePort, killAll, makeRoot, startCli, waitFor, writeConfig, type Running } from '../unit/control/harness.js';

let root: string;
let socket: string;
let daemon: Running;

beforeAll(async () => {
  root = await makeRoot('ie-hostile-sock-');
  socket = path.join(root, 'run', 'infer-entry.sock');
  const config = await writeConfig(root, [{ name: 'a', port: await freePort(), enabled: false }]);
  daemon = startCli(['boot'], baseEnv(root, { AUTO_INFER_LLAMA_CPP_ON_BOOT: '1', AUTO_INFER_LLAMA_CPP_CONFIG: config, INFER_ENTRY_LOG_LEVEL: 'warn' }));
  await waitFor('the control socket', () => fs.stat(socket).then(() => true, () => false));
});
afterAll(async () => {
  daemon.child.kill('SIGTERM');
  await Promise.race([daemon.exit, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  await killAll([daemon.child.pid!, ...(await fakePids(root))].filter(alive));
  await fs.rm(root, { recursive: true, force: true });
});

/** Send raw bytes, half-close, collect what comes back (bounded). */
function raw(bytes: Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const conn = net.connect({ path: socket });
    let out = '';
    const done = () => {
      clearTimeout(timer);
      conn.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, timeoutMs);
    conn.on('data', (d) => (out += d.toString('latin1')));
    conn.on('end', done);
    conn.on('error', done);
    conn.on('connect', () => conn.end(bytes));
  });
}

function request(method: string, target: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: target, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const statusOf = (response: string): number | undefined => {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(response);
  return m ? Number(m[1]) : undefined;
};

async function expectHealthy(): Promise<void> {
  expect((await request('GET', '/healthz')).status).toBe(200);
}

const segment = fc.oneof(
  fc.constantFrom('v1', 'instances', 'a', 'start', 'stop', 'restart', 'logs', 'reload', 'wait', 'healthz', 'readyz', 'metrics', '%', '%zz', '%C0%AF', '%E2%82', '..', '.', '', '%00', 'x'.repeat(300)),
  fc.string({ maxLength: 8 }).map(encodeURIComponent),
);
const target = fc.tuple(fc.array(segment, { maxLength: 5 }), fc.option(fc.constantFrom('?n=5', '?n=-1', '?n=1e9', '?n=abc&follow=0', '?%zz=1', '?n=%'))).map(([parts, q]) => `/${parts.join('/')}${q ?? ''}`);
const body = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('null', '[]', '"x"', '1', '{', '{"file":null}', '{"file":1}', '{"file":"relative"}', '{"file":"/dev/zero"}', '{"names":null}', '{"names":[1]}', '{"names":["a"],"timeoutMs":"x"}', '{"names":["a"],"timeoutMs":1e308}', '{"__proto__":{"x":1}}'),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 64 }),
);
const method = fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH');

describe('the control socket never answers 500 and /healthz keeps answering', () => {
  it('random HTTP requests', async () => {
    await fc.assert(
      fc.asyncProperty(method, target, body, async (m, t, b) => {
        // a wait on a started instance may take a while: the property is about status codes, not waiting
        const settled = await Promise.race([request(m, t, b), new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000))]);
        if (settled) expect(settled.status, `${m} ${t} ${b ?? ''} → ${settled.body}`).not.toBe(500);
        await expectHealthy();
      }),
      fuzzParams(150),
    );
  }, fuzzTimeout(150, 300));

  it('random byte streams, and request lines with broken targets', async () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
      fc.tuple(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })).map(([t, h]) => Buffer.from(`GET ${t} HTTP/1.1\r\nHost: x\r\n${h}\r\n\r\n`, 'latin1')),
      fc.constantFrom('GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /v1/instances/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull').map((s) => Buffer.from(s, 'latin1')),
    );
    await fc.assert(
      fc.asyncProperty(garbage, async (bytes) => {
        expect(statusOf(await raw(bytes))).not.toBe(500);
        await expectHealthy();
      }),
      fuzzParams(150),
    );
  }, fuzzTimeout(150, 200));
});

describe('HTTP edges', () => {
  it('malformed percent-encoding, a null or array JSON body: 400 naming the problem', async () => {
    const bad = await request('GET', '/v1/instances/%E0%A4%A');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.message).toContain('is not valid percent-encoding');
    for (const b of ['null', '[]', '[1,2]']) {
      expect((await request('POST', '/v1/reload', b)).status).toBe(400);
      expect((await request('POST', '/v1/wait', b)).status).toBe(400);
    }
  });

  it('HEAD of a GET endpoint answers like GET, without a body', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics', '/v1/instances', '/v1/instances/a', '/v1/instances/a/logs']) {
      const get = await request('GET', p);
      const head = await request('HEAD', p);
      expect(head.status, p).toBe(get.status);
      expect(head.body).toBe('');
    }
    expect((await request('HEAD', '/v1/instances/nope')).status).toBe(404);
  });
});
