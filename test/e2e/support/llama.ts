import { createServer } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let i = 0; ports.size < n && i < n * 10; i++) ports.add(await freePort());
  return [...ports];
}

/** GET /health; the status code, or null when nothing answers within the timeout. */
export async function health(port: number, timeoutMs = 2_000): Promise<number | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.text();
    return res.status;
  } catch {
    return null;
  }
}

async function postJson(port: number, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${path} on port ${port}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** `/completion` at temperature 0: the tiny random model's output is then deterministic. */
export async function completion(port: number, prompt = 'Once upon a time', nPredict = 8): Promise<{ content: string; tokens: number }> {
  const r = await postJson(port, '/completion', { prompt, n_predict: nPredict, temperature: 0, cache_prompt: false });
  return { content: String(r.content), tokens: Number(r.tokens_predicted) };
}

export async function chat(port: number, text = 'Hello', maxTokens = 8): Promise<{ content: string; finish: string }> {
  const r = await postJson(port, '/v1/chat/completions', {
    messages: [{ role: 'user', content: text }],
    max_tokens: maxTokens,
    temperature: 0,
  });
  const choice = (r.choices as Array<{ message: { content: string }; finish_reason: string }>)[0];
  if (!choice) throw new Error(`no choices in ${JSON.stringify(r).slice(0, 300)}`);
  return { content: choice.message.content, finish: choice.finish_reason };
}

export interface InstanceConf {
  name: string;
  port: number;
  enabled?: boolean;
}

/**
 * A config as users write it (the existing contract): shared server args in [instance.server],
 * one table per instance. Small context and one thread keep the tiny model cheap on shared cores.
 */
export function configToml(model: string, instances: InstanceConf[], control: Record<string, string | number> = {}): string {
  const lines = [
    '[master]',
    'enable = true',
    '',
    '[instance.control]',
    ...Object.entries(control).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
    '',
    '[instance.server]',
    'host = "127.0.0.1"',
    `model = ${JSON.stringify(model)}`,
    'ctx_size = 512',
    'threads = 1',
    'parallel = 1',
    '',
  ];
  for (const inst of instances) {
    if (inst.enabled === false) lines.push(`[instance.${inst.name}.control]`, 'enabled = false', '');
    lines.push(`[instance.${inst.name}.server]`, `port = ${inst.port}`, '');
  }
  return lines.join('\n');
}
