/**
 * The router under test, in its own process so its CPU and RSS are measured alone: supervises
 * one upstream (fake or real llama-server) and serves the router port. Prints `{"port":N}` once
 * listening. Input: one JSON argument { executable, args, env, port }.
 */
import { createHash } from 'node:crypto';
import v8 from 'node:v8';

import { silentLogger } from '../src/log.js';
import { registerProtocolRoutes } from '../src/router/protocols/register.js';
import { createRouter } from '../src/router/router.js';
import type { RouterSettings } from '../src/router/types.js';
import { createSupervisor } from '../src/supervisor/supervisor.js';
import type { InstanceSpec } from '../src/config/types.js';

const input = JSON.parse(process.argv[2]!) as { executable: string; args: string[]; env: Record<string, string>; port: number; parallel: number };
const spec: InstanceSpec = {
  name: 'm',
  enabled: true,
  executable: input.executable,
  args: input.args,
  env: input.env,
  envRemove: [],
  host: '127.0.0.1',
  probeHost: '127.0.0.1',
  port: input.port,
  model: undefined,
  secrets: [],
  logFile: undefined,
  daemonLog: true,
  supervision: {
    restart: 'always',
    backoff: { initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 0.2, resetAfterMs: 60_000 },
    crashLoop: { maxUnreadyStarts: 5, maxRestarts: 10, windowMs: 600_000 },
    health: { path: '/health', startupIntervalMs: 200, startupTimeoutMs: 600_000, intervalMs: 10_000, timeoutMs: 5000, failureThreshold: 3 },
    stopGraceMs: 5000,
  },
  fingerprint: createHash('sha256').update(JSON.stringify(input)).digest('hex'),
};
const supervisor = createSupervisor({ log: silentLogger() });
await supervisor.reload({ file: '<bench>', enable: true, instances: [spec] });
await supervisor.waitSettled(['m']);
const settings: RouterSettings = { enable: true, host: '127.0.0.1', port: 0, maxQueue: 10_000, queueTimeoutMs: 600_000, swapMaxWaitMs: 30_000, maxBodyBytes: 32 << 20, gpuBudgetMb: {}, warmup: true, loadingHeartbeatMs: 0, groups: {}, ollama: true, ollamaListen: undefined };
const router = await createRouter({
  supervisor,
  instances: [
    {
      name: 'm',
      host: '127.0.0.1',
      port: input.port,
      control: { onDemand: false, group: undefined, aliases: [], ttlMs: 0, maxConcurrency: input.parallel, maxQueue: 10_000, pinned: false, vramMb: undefined, serverAlias: undefined, contextSize: undefined, gpus: [], apiKey: undefined },
    },
  ],
  settings,
  log: silentLogger(),
});
// As the daemon mounts them: Ollama's API and llama.cpp's router-mode endpoints (bench/router-protocols.ts).
registerProtocolRoutes(router, settings, silentLogger());
const address = await router.start();
await router.core.load('m');
// BENCH_HEAP_SNAPSHOT_DIR: a heap snapshot at idle and at each SIGUSR2, to compare retained sizes by constructor.
const snapshots = process.env.BENCH_HEAP_SNAPSHOT_DIR;
let snapshotCount = 0;
const snapshot = () => snapshots && v8.writeHeapSnapshot(`${snapshots}/router-${snapshotCount++}.heapsnapshot`);
snapshot();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
// SIGUSR2: where the RSS goes (bench/router.ts asks before and after the 256 streams).
process.on('SIGUSR2', () => {
  const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace('_space', ''), mb(s.space_size)]));
  process.stderr.write(`${JSON.stringify({ memory: { rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers), spaces } })}\n`);
  snapshot();
});
process.on('SIGTERM', () => {
  void router.close().then(() => supervisor.stopAll({ immediate: true })).then(() => process.exit(0));
});
