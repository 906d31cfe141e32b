// The project's fake llama-server as a child process, for the protocol routes to forward to.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { freePort } from '../../supervisor/fixtures.js';

const FAKE = fileURLToPath(new URL('../../../fixtures/fake-llama-server.mjs', import.meta.url));

export interface FakeUpstream {
  port: number;
  stats(): Promise<{ requests: number; aborted: number; completed: number; paths: string[] }>;
  stop(): Promise<void>;
}

export async function startFakeUpstream(env: Record<string, string> = {}): Promise<FakeUpstream> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [FAKE, '--host', '127.0.0.1', '--port', String(port), '-c', '4096'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 200) throw new Error('fake llama-server did not become healthy');
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    stats: async () => (await (await fetch(`${base}/fake/stats`)).json()) as Awaited<ReturnType<FakeUpstream['stats']>>,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}
