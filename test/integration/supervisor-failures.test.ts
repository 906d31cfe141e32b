/** Failed starts: checked before spawning, classified from the exit and the last lines, no restart storms. */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createSupervisor } from '../../src/supervisor/supervisor.js';
import type { SupervisorApi } from '../../src/supervisor/types.js';
import { fakeSpec, freePort, recordTransitions } from '../unit/supervisor/fixtures.js';

const config = (...instances: ReturnType<typeof fakeSpec>[]) => ({ file: '<test>', enable: true, instances });
let supervisor: SupervisorApi | undefined;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-sup-fail-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await supervisor?.stopAll({ immediate: true });
  supervisor = undefined;
});

describe('failed starts', () => {
  it('fails at once with port-in-use when another process holds the port, without spawning', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      supervisor = createSupervisor({ log: silentLogger() });
      const rec = recordTransitions(supervisor);
      await supervisor.reload(config(fakeSpec('a', port)));
      const [status] = await supervisor.waitSettled(['a']);
      expect(status!.state).toBe('failed');
      expect(status!.failureClass).toBe('port-in-use');
      expect(status!.reason).toContain(`port ${port}`);
      expect(status!.restarts).toBe(0);
      expect(rec.events.map((e) => e.to)).toEqual(['starting', 'failed']);
    } finally {
      blocker.close();
    }
  });

  it('classifies a port taken between the check and the bind from the server\'s own message, and gives up after two tries', async () => {
    const port = await freePort();
    // The pre-check is told the port is free, so the server itself hits the bind error.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      supervisor = createSupervisor({ log: silentLogger(), deps: { portFree: async () => true } });
      const rec = recordTransitions(supervisor);
      await supervisor.reload(config(fakeSpec('a', port)));
      const failed = await rec.waitState('a', 'failed');
      expect(failed.failureClass).toBe('port-in-use');
      expect(failed.reason).toMatch(/2 times in a row/);
      expect(supervisor.get('a')!.restarts).toBe(1);
      expect(supervisor.get('a')!.lastExit?.lastLines.join('\n')).toContain("couldn't bind HTTP server socket");
    } finally {
      blocker.close();
    }
  });

  it('fails with model-load-failed when the model file is missing, without spawning', async () => {
    // Default deps: the config module's checkInstanceFiles.
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('a', await freePort(), { model: path.join(dir, 'missing.gguf') })));
    const [status] = await supervisor.waitSettled(['a']);
    expect(status!.state).toBe('failed');
    expect(status!.failureClass).toBe('model-load-failed');
    expect(status!.reason).toContain('missing.gguf');
    expect(status!.pid).toBeNull();
    expect(rec.events.map((e) => e.to)).toEqual(['starting', 'failed']);
  });

  it.each([
    ['bad-argument', 'bad-argument'],
    ['missing-library', 'missing-library'],
    ['model-load-failed', 'model-load-failed'],
  ] as const)('a %s exit is classified and failed after at most two tries', async (mode, cls) => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('a', await freePort(), { env: { FAKE_FAIL: mode } })));
    const failed = await rec.waitState('a', 'failed');
    expect(failed.failureClass).toBe(cls);
    expect(supervisor.get('a')!.failureClass).toBe(cls);
    expect(rec.events.filter((e) => e.to === 'starting')).toHaveLength(2);
  });

  it('an out-of-memory exit is retried with a longer backoff', async () => {
    supervisor = createSupervisor({ log: silentLogger(), deps: { random: () => 0.5 } });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(
      config(fakeSpec('a', await freePort(), { env: { FAKE_FAIL: 'out-of-memory' }, supervision: { backoff: { initialMs: 100, maxMs: 10_000 } } })),
    );
    const backoff = await rec.waitState('a', 'backoff');
    expect(backoff.failureClass).toBe('out-of-memory');
    expect(backoff.reason).toMatch(/restart in 400 ms/);
  });

  it('a process killed by a signal is classified killed', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('a', await freePort(), { env: { FAKE_FAIL: 'abort' } })));
    const backoff = await rec.waitState('a', 'backoff');
    expect(backoff.signal).toBe('SIGABRT');
    expect(backoff.failureClass).toBe('killed');
  });

  it('an executable that does not exist fails without looping', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    const spec = { ...fakeSpec('a', await freePort()), executable: path.join(dir, 'no-such-llama-server') };
    await supervisor.reload(config(spec));
    const failed = await rec.waitState('a', 'failed');
    expect(failed.failureClass).toBe('missing-library');
    expect(rec.events.filter((e) => e.to === 'starting').length).toBeLessThanOrEqual(2);
  });
});

describe('restart policies and internal errors', () => {
  it("'on-failure' leaves a clean exit stopped; 'never' fails a crash without restarting", async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(
      config(
        fakeSpec('clean', await freePort(), { env: { FAKE_CRASH_AFTER_MS: '300', FAKE_CRASH_CODE: '0' }, supervision: { restart: 'on-failure' } }),
        fakeSpec('once', await freePort(), { env: { FAKE_CRASH_AFTER_MS: '300' }, supervision: { restart: 'never' } }),
      ),
    );
    const clean = await rec.waitFor((e) => e.instance === 'clean' && e.to === 'stopped', 10_000, 'clean stopped');
    expect(clean.exitCode).toBe(0);
    const once = await rec.waitState('once', 'failed');
    expect(once.reason).toMatch(/restart policy 'never'/);
    expect(rec.events.filter((e) => e.to === 'starting')).toHaveLength(2);
  });

  it('an unexpected error in a pre-spawn check fails that instance and does not crash the daemon', async () => {
    supervisor = createSupervisor({
      log: silentLogger(),
      deps: {
        checkFiles: async () => {
          throw new Error('EIO reading the model directory');
        },
      },
    });
    await supervisor.reload(config(fakeSpec('a', await freePort())));
    const [status] = await supervisor.waitSettled(['a']);
    expect(status).toMatchObject({ state: 'failed', reason: expect.stringContaining('EIO reading the model directory') });
  });
});

describe('slow starts', () => {
  it('connection refused while the process is alive (a -hf download) still counts as starting', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    await supervisor.reload(config(fakeSpec('a', await freePort(), { env: { FAKE_BIND_DELAY_MS: '700' } })));
    const [status] = await supervisor.waitSettled(['a']);
    expect(status!.state).toBe('ready');
    expect(rec.events.map((e) => e.to)).toEqual(['starting', 'ready']);
  });

  it('a loader that keeps printing progress stays starting past the startup timeout; a silent one is restarted', async () => {
    supervisor = createSupervisor({ log: silentLogger() });
    const rec = recordTransitions(supervisor);
    // Generous against a loaded CI machine: node's own start-up must not look like silence.
    const health = { startupTimeoutMs: 1_500, startupIntervalMs: 100 };
    await supervisor.reload(
      config(
        fakeSpec('talkative', await freePort(), { env: { FAKE_LOAD_MS: '3000', FAKE_PROGRESS_MS: '100' }, supervision: { health } }),
        fakeSpec('silent', await freePort(), { env: { FAKE_LOAD_MS: '60000' }, supervision: { health } }),
      ),
    );
    const stopping = await rec.waitState('silent', 'stopping');
    expect(stopping.failureClass).toBe('startup-timeout');
    const ready = await rec.waitState('talkative', 'ready');
    expect(ready.from).toBe('starting');
    expect(rec.events.filter((e) => e.instance === 'talkative').map((e) => e.to)).toEqual(['starting', 'ready']);
  });
});
