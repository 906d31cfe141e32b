// The real router (core, scheduler, supervisor, listener) over fake llama-server processes, with the
// protocol routes registered as the daemon registers them.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { silentLogger } from '../../../../src/log.js';
import { registerProtocolRoutes } from '../../../../src/router/protocols/register.js';
import { createRouter, type Router } from '../../../../src/router/router.js';
import type { InstanceControl, RouterSettings } from '../../../../src/router/types.js';
import { createSupervisor } from '../../../../src/supervisor/supervisor.js';
import type { SupervisorApi } from '../../../../src/supervisor/types.js';
import { fakeSpec, freePort } from '../../supervisor/fixtures.js';
import { control as routerTestControl, settings as routerTestSettings } from '../http-harness.js';

export interface HarnessInstance {
  name: string;
  control?: Partial<InstanceControl>;
  env?: Record<string, string>;
  /** A model file of this many bytes, passed as `-m` and as the routed instance's modelPath. */
  modelBytes?: number;
}

export interface Harness {
  url: string;
  ollamaUrl: string | undefined;
  router: Router;
  supervisor: SupervisorApi;
  /** How many processes each instance has spawned so far. */
  spawns(name: string): number;
  fakeStats(name: string): Promise<{ requests: number; aborted: number; completed: number; paths: string[] }>;
  close(): Promise<void>;
}

// The router tests' defaults, with the shorter waits and the known context these tests assert on.
export function settings(overrides: Partial<RouterSettings> = {}): RouterSettings {
  return routerTestSettings({ queueTimeoutMs: 30_000, swapMaxWaitMs: 5_000, ...overrides });
}

export function control(overrides: Partial<InstanceControl> = {}): InstanceControl {
  return routerTestControl({ contextSize: 4096, ...overrides });
}

export async function startHarness(instances: HarnessInstance[], routerSettings: Partial<RouterSettings> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'infer-entry-protocols-'));
  const log = silentLogger();
  const supervisor = createSupervisor({ log });
  const routed: Array<{ name: string; host: string; port: number; control: InstanceControl; modelPath?: string }> = [];
  const specs = [];
  for (const instance of instances) {
    const port = await freePort();
    const c = control(instance.control);
    // On-demand instances are configured but not started at boot: the router starts them.
    const model = instance.modelBytes === undefined ? undefined : join(dir, `${instance.name}-Q4_K_M.gguf`);
    if (model) writeFileSync(model, Buffer.alloc(instance.modelBytes!));
    specs.push(fakeSpec(instance.name, port, { enabled: !c.onDemand, ...(model ? { model } : {}), env: { FAKE_PID_FILE: join(dir, `${instance.name}.pids`), ...instance.env } }));
    routed.push({ name: instance.name, host: '127.0.0.1', port, control: c, ...(model ? { modelPath: model } : {}) });
  }
  await supervisor.reload({ file: '<test>', enable: true, instances: specs });
  const s = settings(routerSettings);
  const router = await createRouter({ supervisor, instances: routed, settings: s, log });
  const mount = registerProtocolRoutes(router, s, log);
  const address = await router.start();
  const ollama = mount.ollamaListener ? await mount.ollamaListener.start() : undefined;
  const portOf = (name: string) => routed.find((r) => r.name === name)!.port;
  return {
    url: `http://127.0.0.1:${address.port}`,
    ollamaUrl: ollama ? `http://127.0.0.1:${ollama.port}` : undefined,
    router,
    supervisor,
    spawns: (name) => {
      try {
        return readFileSync(join(dir, `${name}.pids`), 'utf8').trim().split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    },
    fakeStats: async (name) => (await (await fetch(`http://127.0.0.1:${portOf(name)}/fake/stats`)).json()) as Awaited<ReturnType<Harness['fakeStats']>>,
    close: async () => {
      await mount.ollamaListener?.close();
      await router.close();
      await supervisor.stopAll({ immediate: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
