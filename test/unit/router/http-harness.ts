/** A real supervisor running fake llama-servers, a real router in front, all on 127.0.0.1 ephemeral ports. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { silentLogger } from '../../../src/log.js';
import type { RoutedInstance } from '../../../src/router/core.js';
import { createRouter, type Router, type RouterOptions } from '../../../src/router/router.js';
import type { InstanceControl, RouterSettings } from '../../../src/router/types.js';
import { createSupervisor } from '../../../src/supervisor/supervisor.js';
import type { SupervisorApi } from '../../../src/supervisor/types.js';
import { fakeSpec, freePort, type FakeSpecOptions } from '../supervisor/fixtures.js';

export function settings(overrides: Partial<RouterSettings> = {}): RouterSettings {
  return {
    enable: true,
    host: '127.0.0.1',
    port: 0,
    maxQueue: 256,
    queueTimeoutMs: 60_000,
    swapMaxWaitMs: 30_000,
    maxBodyBytes: 1024 * 1024,
    gpuBudgetMb: {},
    warmup: true,
    loadingHeartbeatMs: 0,
    groups: {},
    ollama: true,
    ollamaListen: undefined,
    ...overrides,
  };
}

export function control(overrides: Partial<InstanceControl> = {}): InstanceControl {
  return {
    onDemand: true,
    group: undefined,
    aliases: [],
    ttlMs: 0,
    maxConcurrency: 4,
    maxQueue: 64,
    pinned: false,
    vramMb: undefined,
    serverAlias: undefined,
    contextSize: undefined,
    gpus: [],
    apiKey: undefined,
    ...overrides,
  };
}

export interface TestInstance {
  name: string;
  control?: Partial<InstanceControl>;
  fake?: FakeSpecOptions;
  /** memoryKey of its config (VRAM measurements count only for the same key). */
  vramKey?: string;
}

/** What a test may add to the router: a GPU probe, the VRAM state file, the VRAM wait bound. */
export type StackRouterOptions = Partial<Pick<RouterOptions, 'gpu' | 'vramStateFile' | 'vramWait'>>;

export interface Stack {
  supervisor: SupervisorApi;
  router: Router;
  url: string;
  dir: string;
  ports: Record<string, number>;
  /** Processes spawned per instance (from FAKE_PID_FILE). */
  spawns(name: string): number;
  /** The file each instance's fake appends its pids to. */
  pidFile(name: string): string;
  events(name: string): Array<{ ev: string; path: string; t: number; max_tokens?: number; concurrent: number }>;
  stats(name: string): Promise<{ requests: number; current: number; maxConcurrent: number; aborted: number; tokens: number; paths: string[] }>;
  close(): Promise<void>;
}

export async function startStack(
  instances: TestInstance[],
  routerSettings: Partial<RouterSettings> = {},
  apiKeys: string[] = [],
  routerOptions: StackRouterOptions = {},
): Promise<Stack> {
  const dir = mkdtempSync(path.join(tmpdir(), 'router-test-'));
  const ports: Record<string, number> = {};
  const specs = [];
  const routed: RoutedInstance[] = [];
  for (const instance of instances) {
    const port = await freePort();
    ports[instance.name] = port;
    const c = control(instance.control);
    const env = {
      FAKE_PID_FILE: path.join(dir, `${instance.name}.pids`),
      FAKE_EVENT_LOG: path.join(dir, `${instance.name}.events`),
      ...(c.apiKey ? { LLAMA_API_KEY: c.apiKey } : {}),
      ...instance.fake?.env,
    };
    // Probes patient enough that a busy test machine does not restart a server mid-stream.
    const supervision = { health: { timeoutMs: 3000, intervalMs: 1000, failureThreshold: 3 }, ...instance.fake?.supervision };
    specs.push(fakeSpec(instance.name, port, { ...instance.fake, env, supervision, enabled: !c.onDemand }));
    routed.push({ name: instance.name, host: '127.0.0.1', port, control: c, vramKey: instance.vramKey });
  }
  const supervisor = createSupervisor({ log: silentLogger() });
  await supervisor.reload({ file: '<test>', enable: true, instances: specs });
  const router = await createRouter({ supervisor, instances: routed, settings: settings(routerSettings), log: silentLogger(), apiKeys, ...routerOptions });
  const address = await router.start();
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    supervisor,
    router,
    url: `http://127.0.0.1:${address.port}`,
    dir,
    ports,
    pidFile: (name) => path.join(dir, `${name}.pids`),
    spawns: (name) => read(path.join(dir, `${name}.pids`)).split('\n').filter(Boolean).length,
    events: (name) => read(path.join(dir, `${name}.events`)).split('\n').filter(Boolean).map((line) => JSON.parse(line)),
    stats: async (name) => (await fetch(`http://127.0.0.1:${ports[name]}/fake/stats`)).json() as never,
    async close() {
      await router.close();
      await supervisor.stopAll({ immediate: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function chat(url: string, model: string, extra: Record<string, unknown> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
    ...init,
  });
}
