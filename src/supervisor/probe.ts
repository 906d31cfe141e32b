/**
 * One HTTP health probe. A fresh connection per probe (no keep-alive agent)
 * so a server that accepts TCP but never answers is seen as a timeout rather
 * than hidden behind a pooled socket.
 */
import http from 'node:http';

export interface ProbeRequest {
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ProbeResult {
  ok: boolean;
  status: number | null;
  /** llama-server answers 503 "Loading model" while it loads: still starting, not broken. */
  loading: boolean;
  /** Connection refused: nothing listens (yet). */
  refused: boolean;
  latencyMs: number;
  error: string | null;
}

const MAX_BODY = 4096;

export function httpProbe(request: ProbeRequest): Promise<ProbeResult> {
  const started = performance.now();
  const done = (partial: Omit<ProbeResult, 'latencyMs'>): ProbeResult => ({ ...partial, latencyMs: performance.now() - started });
  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(result);
    };
    const req = http.get({
      host: request.host,
      port: request.port,
      path: request.path,
      agent: false,
      headers: { connection: 'close' },
    });
    const timer = setTimeout(
      () => finish(done({ ok: false, status: null, loading: false, refused: false, error: `timed out after ${request.timeoutMs} ms` })),
      request.timeoutMs,
    );
    const onAbort = () => finish(done({ ok: false, status: null, loading: false, refused: false, error: 'aborted' }));
    if (request.signal?.aborted) return onAbort();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error: NodeJS.ErrnoException) => {
      const refused = error.code === 'ECONNREFUSED';
      finish(done({ ok: false, status: null, loading: false, refused, error: error.code ?? error.message }));
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_BODY) body += chunk;
      });
      res.on('error', () => undefined);
      res.on('end', () => {
        const status = res.statusCode ?? null;
        const ok = status === 200;
        const loading = status === 503 && /loading model/i.test(body);
        finish(done({ ok, status, loading, refused: false, error: ok ? null : `HTTP ${status}${loading ? ' Loading model' : ''}` }));
      });
    });
  });
}
