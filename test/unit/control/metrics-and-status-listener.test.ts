import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/boot/daemon.js';
import { createDaemonMetrics } from '../../../src/control/metrics.js';
import { parseStatusAddr } from '../../../src/control/server.js';
import { silentLogger } from '../../../src/log.js';
import { resolvePaths } from '../../../src/paths.js';
import { FakeSupervisor, fakeDeps } from '../../fixtures/daemon-fakes.js';
import { freePort } from './harness.js';

let root: string;
let daemon: Daemon | undefined;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-metrics-'));
});
afterEach(async () => {
  await daemon?.close();
  daemon = undefined;
  await fs.rm(root, { recursive: true, force: true });
});


async function loadInto(supervisor: FakeSupervisor): Promise<void> {
  const file = path.join(root, 'c.json');
  await fs.writeFile(file, JSON.stringify({ instances: [{ name: 'alpha' }, { name: 'beta', enabled: false }] }));
  await supervisor.reload(await fakeDeps(supervisor).loadConfig(file, { env: {}, paths: resolvePaths({ INFER_ENTRY_ROOT: root }) }));
}

describe('metrics', () => {
  it('exposes per-instance state, ready, restarts, last exit, probe latency, build and install info', async () => {
    const supervisor = new FakeSupervisor();
    await loadInto(supervisor);
    const alpha = supervisor.statuses.get('alpha')!;
    alpha.restarts = 3;
    alpha.lastExit = { code: null, signal: 'SIGKILL', at: 0, class: 'killed', lastLines: [] };
    const beta = supervisor.statuses.get('beta')!;
    beta.state = 'failed';
    beta.failureClass = 'port-in-use';
    const metrics = createDaemonMetrics({
      supervisor,
      installInfo: async () => ({ sha256: 'ab'.repeat(32), installedAtUnix: 1_700_000_000, durationMs: 2500 }),
    });
    supervisor.emitProbe('alpha', 12);
    const text = await metrics.render();
    metrics.close();
    expect(text).toContain('infer_entry_instance_state{instance="alpha",state="ready"} 1');
    expect(text).toContain('infer_entry_instance_state{instance="alpha",state="failed"} 0');
    expect(text).toContain('infer_entry_instance_ready{instance="alpha"} 1');
    expect(text).toContain('infer_entry_instance_ready{instance="beta"} 0');
    expect(text).toContain('# TYPE infer_entry_instance_restarts_total counter');
    expect(text).toContain('infer_entry_instance_restarts_total{instance="alpha"} 3');
    expect(text).toContain('infer_entry_instance_last_exit_code{instance="alpha",class="killed"} 137');
    expect(text).toContain('infer_entry_instance_failed{instance="beta",class="port-in-use"} 1');
    expect(text).toContain('infer_entry_probe_duration_seconds_count{instance="alpha",ok="true"} 1');
    expect(text).toMatch(/infer_entry_build_info\{version="[^"]+",node="v\d+/);
    expect(text).toContain(`infer_entry_install_info{sha256="${'ab'.repeat(32)}"} 1`);
    expect(text).toContain('infer_entry_install_duration_seconds 2.5');
    expect(text).toContain('infer_entry_install_timestamp_seconds 1700000000');
  });

  it('drops instances that a reload removed', async () => {
    const supervisor = new FakeSupervisor();
    await loadInto(supervisor);
    const metrics = createDaemonMetrics({ supervisor, installInfo: async () => null });
    expect(await metrics.render()).toContain('instance="beta"');
    supervisor.statuses.delete('beta');
    const text = await metrics.render();
    metrics.close();
    expect(text).not.toContain('instance="beta"');
    expect(text).not.toContain('infer_entry_install_info{');
  });
});

describe('AUTO_INFER_STATUS_ADDR', () => {
  it('parses host:port, [v6]:port and :port', () => {
    expect(parseStatusAddr('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseStatusAddr('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(parseStatusAddr(':9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    for (const bad of ['9464', 'host:', 'host:70000', 'a:b']) {
      expect(() => parseStatusAddr(bad), bad).toThrow(/AUTO_INFER_STATUS_ADDR/);
    }
  });

  it('serves /healthz, /readyz and /metrics read-only over TCP, and nothing else', async () => {
    const supervisor = new FakeSupervisor();
    await loadInto(supervisor);
    const env = { INFER_ENTRY_ROOT: root, AUTO_INFER_STATUS_ADDR: `127.0.0.1:${await freePort()}` };
    const logs: string[] = [];
    const log = silentLogger();
    log.info = ((obj: { address?: string }) => {
      if (obj?.address) logs.push(obj.address);
    }) as unknown as typeof log.info;
    daemon = await startDaemon({ env, paths: resolvePaths(env), log, deps: fakeDeps(supervisor) });
    const address = logs.find((a) => a.startsWith('127.0.0.1:'));
    expect(address).toBeDefined();
    const base = `http://${address}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, notReady: [] });
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('infer_entry_instance_ready{instance="alpha"} 1');
    expect((await fetch(`${base}/v1/instances`)).status).toBe(404);
    expect((await fetch(`${base}/v1/instances/alpha/stop`, { method: 'POST' })).status).toBe(404);
    expect(supervisor.get('alpha')?.state).toBe('ready');
    supervisor.statuses.get('alpha')!.state = 'backoff';
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ready: false, notReady: [{ name: 'alpha', state: 'backoff' }] });
  });

  it('a bad address is logged and the daemon still starts', async () => {
    const env = { INFER_ENTRY_ROOT: root, AUTO_INFER_STATUS_ADDR: 'nonsense' };
    const errors: string[] = [];
    const log = silentLogger();
    log.error = ((_obj: unknown, msg: string) => {
      errors.push(msg);
    }) as unknown as typeof log.error;
    daemon = await startDaemon({ env, paths: resolvePaths(env), log, deps: fakeDeps(new FakeSupervisor()) });
    expect(errors.join('\n')).toContain('AUTO_INFER_STATUS_ADDR="nonsense" is not host:port');
    expect((await fs.stat(resolvePaths(env).socket)).isSocket()).toBe(true);
  });
});
