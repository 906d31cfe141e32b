/** Real fake-llama-server processes under the supervisor: readiness, crashes, restarts, stops. */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createSupervisor } from '../../src/supervisor/supervisor.js';
import type { SupervisorApi } from '../../src/supervisor/types.js';
import { alive, fakeSpec, freePort, recordTransitions, running, waitUntil } from '../unit/supervisor/fixtures.js';

const config = (...instances: ReturnType<typeof fakeSpec>[]) => ({ file: '<test>', enable: true, instances });

let supervisor: SupervisorApi | undefined;
afterEach(async () => {
  await supervisor?.stopAll({ immediate: true });
  supervisor = undefined;
});

describe('supervisor lifecycle with real processes', () => {
  it('reports ready only after the server stops answering 503 Loading model', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('a', port, { env: { FAKE_LOAD_MS: '400' } })));
    const [status] = await supervisor.waitSettled(['a']);
    expect(status!.state).toBe('ready');
    expect(status!.pid).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    // At least one probe saw the loading 503 before ready.
    expect(rec.events.map((e) => e.to)).toEqual(['starting', 'ready']);
    expect(supervisor.logs('a', 100).some((line) => line.includes('main: loading model'))).toBe(true);
    const pid = status!.pid!;
    const stopped = await supervisor.stop('a');
    expect(stopped.state).toBe('stopped');
    expect(alive(pid)).toBe(false);
  });

  it('restarts a crashed server after a backoff and it becomes ready again', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('a', port, { env: { FAKE_CRASH_AFTER_MS: '600' } })));
    await rec.waitState('a', 'ready');
    const backoff = await rec.waitState('a', 'backoff');
    expect(backoff.exitCode).toBe(1);
    expect(backoff.failureClass).toBe('crashed');
    await rec.waitState('a', 'ready', 2);
    expect(supervisor.get('a')!.restarts).toBeGreaterThanOrEqual(1);
    expect(supervisor.get('a')!.lastExit?.code).toBe(1);
  });

  it('fails a crash-looping instance while another one stays ready', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(
      config(
        fakeSpec('good', p1),
        fakeSpec('loop', p2, { env: { FAKE_EXIT_AT_ONCE: '3' }, supervision: { crashLoop: { maxUnreadyStarts: 3 } } }),
      ),
    );
    const failed = await rec.waitState('loop', 'failed');
    expect(failed.reason).toMatch(/crash loop: 3 starts/);
    expect(failed.exitCode).toBe(3);
    expect(supervisor.get('loop')!.state).toBe('failed');
    expect(supervisor.get('loop')!.restarts).toBe(2);
    expect(supervisor.get('good')!.state).toBe('ready');
    expect(rec.events.filter((e) => e.instance === 'good').map((e) => e.to)).toEqual(['starting', 'ready']);
  });

  it('kills and restarts a server whose /health hangs', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('hung', port, { env: { FAKE_HANG_HEALTH_AFTER_MS: '1000' } })));
    const first = await rec.waitState('hung', 'ready');
    await rec.waitState('hung', 'unhealthy');
    const stopping = await rec.waitState('hung', 'stopping');
    expect(stopping.failureClass).toBe('liveness-failed');
    expect(stopping.reason).toMatch(/timed out/);
    await rec.waitState('hung', 'backoff');
    await rec.waitState('hung', 'starting', 2);
    const second = await rec.waitState('hung', 'ready', 2);
    expect(second.pid).not.toBe(first.pid);
    expect(alive(first.pid!)).toBe(false);
  });

  it('SIGKILLs a server that ignores SIGTERM after the grace period, group included', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    await supervisor.reload(
      config(fakeSpec('stubborn', port, { env: { FAKE_IGNORE_SIGTERM: '1', FAKE_GRANDCHILD: '1' }, supervision: { stopGraceMs: 500 } })),
    );
    const [status] = await supervisor.waitSettled(['stubborn']);
    const grandchild = Number(/grandchild pid (\d+)/.exec(supervisor.logs('stubborn', 50).join('\n'))?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    const stopped = await supervisor.stop('stubborn');
    expect(stopped.state).toBe('stopped');
    expect(stopped.lastExit?.signal).toBe('SIGKILL');
    expect(supervisor.logs('stubborn', 50)).toContain('SIGTERM ignored');
    expect(alive(status!.pid!)).toBe(false);
    expect(alive(grandchild)).toBe(false);
  });

  it('stops a SIGSTOPped (frozen) server with SIGTERM instead of waiting out the grace period for SIGKILL', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    await supervisor.reload(config(fakeSpec('frozen', port, { supervision: { stopGraceMs: 20_000 } })));
    const [status] = await supervisor.waitSettled(['frozen']);
    process.kill(status!.pid!, 'SIGSTOP');
    const stopped = await supervisor.stop('frozen');
    expect(stopped.state).toBe('stopped');
    expect(stopped.lastExit?.signal).not.toBe('SIGKILL');
    expect(alive(status!.pid!)).toBe(false);
  });

  it('a SIGSTOPped (frozen) ready server fails liveness and is replaced after a SIGTERM, not after the grace period', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('frozen', port, { supervision: { stopGraceMs: 30_000 } })));
    const first = await rec.waitState('frozen', 'ready');
    process.kill(first.pid!, 'SIGSTOP');
    const stopping = await rec.waitState('frozen', 'stopping');
    expect(stopping.failureClass).toBe('liveness-failed');
    const backoff = await rec.waitState('frozen', 'backoff');
    expect(backoff.signal).not.toBe('SIGKILL');
    const second = await rec.waitState('frozen', 'ready', 2);
    expect(second.pid).not.toBe(first.pid);
    expect(alive(first.pid!)).toBe(false);
  });

  it('a stopped orphan of a crashed server does not hold the restart for the grace period', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('o', port, { env: { FAKE_GRANDCHILD: '1' }, supervision: { stopGraceMs: 30_000 } })));
    const ready = await rec.waitState('o', 'ready');
    const grandchild = Number(/grandchild pid (\d+)/.exec(supervisor.logs('o', 50).join('\n'))?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    process.kill(grandchild, 'SIGSTOP');
    process.kill(ready.pid!, 'SIGKILL');
    await rec.waitState('o', 'starting', 2);
    expect(running(grandchild)).toBe(false);
  });

  it('waits until every process of the old group is gone before restarting', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('g', port, { env: { FAKE_GRANDCHILD: '1', FAKE_CRASH_AFTER_MS: '500' } })));
    await rec.waitState('g', 'ready');
    const grandchild = Number(/grandchild pid (\d+)/.exec(supervisor.logs('g', 50).join('\n'))?.[1]);
    expect(running(grandchild)).toBe(true);
    let runningAtRestart: boolean | undefined;
    supervisor.onTransition((e) => {
      if (e.instance === 'g' && e.to === 'starting' && runningAtRestart === undefined) runningAtRestart = running(grandchild);
    });
    await rec.waitState('g', 'starting', 2);
    expect(runningAtRestart).toBe(false);
  });

  it('a stop during the backoff cancels the pending restart', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('b', await freePort(), { env: { FAKE_EXIT_AT_ONCE: '1' }, supervision: { backoff: { initialMs: 60_000, maxMs: 60_000 } } })));
    await rec.waitState('b', 'backoff');
    const stopped = await supervisor.stop('b');
    expect(stopped.state).toBe('stopped');
    expect(rec.events.filter((e) => e.instance === 'b').map((e) => e.to)).toEqual(['starting', 'backoff', 'stopped']);
  });

  it('start(name) during a backoff starts the instance now instead of after the delay', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('b', await freePort(), { env: { FAKE_EXIT_AT_ONCE: '1' }, supervision: { backoff: { initialMs: 60_000, maxMs: 60_000 } } })));
    await rec.waitState('b', 'backoff');
    expect((await supervisor.start('b')).state).not.toBe('backoff');
    const again = await rec.waitState('b', 'starting', 2, 5_000);
    expect(again.reason).toContain('start requested');
  });

  it('restart(name) replaces the process', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    await supervisor.reload(config(fakeSpec('r', await freePort())));
    const [before] = await supervisor.waitSettled(['r']);
    await supervisor.restart('r');
    const [after] = await supervisor.waitSettled(['r']);
    expect(after!.state).toBe('ready');
    expect(after!.pid).not.toBe(before!.pid);
    expect(alive(before!.pid!)).toBe(false);
  });

  it('stopAll({immediate}) kills every group at once', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    supervisor = createSupervisor({ log: silentLogger() });
    await supervisor.reload(
      config(
        fakeSpec('x', p1, { env: { FAKE_IGNORE_SIGTERM: '1' }, supervision: { stopGraceMs: 20_000 } }),
        fakeSpec('y', p2, { env: { FAKE_IGNORE_SIGTERM: '1' }, supervision: { stopGraceMs: 20_000 } }),
      ),
    );
    const statuses = await supervisor.waitSettled(['x', 'y']);
    await supervisor.stopAll({ immediate: true });
    for (const status of statuses) expect(alive(status.pid!)).toBe(false);
    expect(supervisor.list().map((s) => s.state)).toEqual(['stopped', 'stopped']);
  });

  it('a second, immediate stopAll escalates a graceful one in progress', async () => {
    const port = await freePort();
    supervisor = createSupervisor({ log: silentLogger() });
    await supervisor.reload(config(fakeSpec('x', port, { env: { FAKE_IGNORE_SIGTERM: '1' }, supervision: { stopGraceMs: 20_000 } })));
    const [status] = await supervisor.waitSettled(['x']);
    const graceful = supervisor.stopAll();
    await waitUntil(() => supervisor!.get('x')!.state === 'stopping', 5_000, 'x is stopping');
    await supervisor.stopAll({ immediate: true });
    await graceful;
    expect(alive(status!.pid!)).toBe(false);
    expect(supervisor.get('x')!.state).toBe('stopped');
  });
});
