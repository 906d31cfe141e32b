/**
 * The lifecycle logic of Instance and createSupervisor, driven with a fake spawn and vitest's fake
 * timers: seconds of backoff, grace periods and probe intervals run in microseconds. The
 * real-process tests (test/integration/supervisor-*.test.ts) stay the proof against real processes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { createSupervisor } from '../../../src/supervisor/supervisor.js';
import type { SupervisorApi, TransitionEvent } from '../../../src/supervisor/types.js';
import { fakeWorld, type FakeWorld } from './fake-processes.js';
import { fakeSpec, type FakeSpecOptions } from './fixtures.js';

let world: FakeWorld;
let supervisor: SupervisorApi;
let events: TransitionEvent[];

const path = (name = 'a') => events.filter((e) => e.instance === name).map((e) => e.to);
const state = (name = 'a') => supervisor.get(name)!.state;

async function load(options: FakeSpecOptions = {}, names = ['a']): Promise<void> {
  await supervisor.reload({ file: 'test', enable: true, instances: names.map((name, i) => fakeSpec(name, 9000 + i, options)) });
}

/** Let fake time pass (timers and the promise chains they resolve). */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers();
  world = fakeWorld();
  supervisor = createSupervisor({ log: silentLogger(), env: {}, deps: world.deps });
  events = [];
  supervisor.onTransition((event) => events.push(event));
});

afterEach(async () => {
  const stopping = supervisor.stopAll({ immediate: true });
  await vi.runAllTimersAsync();
  await stopping;
  vi.useRealTimers();
});

describe('Instance lifecycle with a fake spawn and fake timers', () => {
  it('starts, becomes ready on the first 200, and reports pid and uptime', async () => {
    await load();
    await advance(100);
    expect(state()).toBe('starting');
    world.health = 'ok';
    await advance(30);
    expect(state()).toBe('ready');
    await advance(5_000);
    const status = supervisor.get('a')!;
    expect(status.pid).toBe(world.last().pid);
    expect(status.uptimeMs).toBeGreaterThanOrEqual(5_000);
    expect(path()).toEqual(['starting', 'ready']);
  });

  it('a crash while starting waits the backoff, then restarts; restarts counts it', async () => {
    await load({ supervision: { backoff: { initialMs: 1_000, maxMs: 5_000, jitter: 0 } } });
    await advance(50);
    world.last().print('error: unknown argument: --bogus');
    world.last().exit(1);
    await advance(10);
    expect(state()).toBe('backoff');
    expect(supervisor.get('a')!.lastExit).toMatchObject({ code: 1, class: 'bad-argument' });
    await advance(900);
    expect(world.children).toHaveLength(1);
    await advance(200);
    expect(world.children).toHaveLength(2);
    expect(state()).toBe('starting');
    expect(supervisor.get('a')!.restarts).toBe(1);
  });

  it('the same unfixable class twice in a row fails the instance instead of looping', async () => {
    await load({ supervision: { backoff: { initialMs: 100, jitter: 0 } } });
    for (let i = 0; i < 2; i++) {
      await advance(50);
      world.last().print("couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 9000");
      world.last().exit(1);
      await advance(500);
    }
    expect(state()).toBe('failed');
    expect(supervisor.get('a')!.failureClass).toBe('port-in-use');
    expect(world.children).toHaveLength(2);
  });

  it('an unusable executable fails at once as missing-library, a missing model as model-load-failed, without spawning', async () => {
    world.fileProblems = [{ file: 'c', line: undefined, column: undefined, path: ['master', 'llama_cpp_path'], message: 'llama-server executable /x does not exist', kind: 'fs', subject: 'executable', instance: 'a' }];
    await load();
    await advance(10);
    expect(supervisor.get('a')).toMatchObject({ state: 'failed', failureClass: 'missing-library', reason: 'llama-server executable /x does not exist' });
    world.fileProblems = [{ file: 'c', line: undefined, column: undefined, path: ['instance', 'a', 'server', 'model'], message: 'model file /m.gguf does not exist', kind: 'fs', subject: 'model', instance: 'a' }];
    await supervisor.start('a');
    await advance(10);
    expect(supervisor.get('a')).toMatchObject({ state: 'failed', failureClass: 'model-load-failed' });
    expect(world.children).toHaveLength(0);
  });

  it('an unusable log file is only a warning: the server still starts', async () => {
    world.fileProblems = [{ file: 'c', line: undefined, column: undefined, path: ['instance', 'a', 'control', 'log_file'], message: 'log file /l is not writable', kind: 'fs', subject: 'log-file', instance: 'a' }];
    world.health = 'ok';
    await load();
    await advance(50);
    expect(state()).toBe('ready');
    expect(world.children).toHaveLength(1);
  });

  it('a spawn that fails (no such file) is classified as missing-library', async () => {
    world.next = { pid: undefined };
    await load({ supervision: { restart: 'never' } });
    await advance(1_000);
    expect(supervisor.get('a')).toMatchObject({ state: 'failed', lastExit: { code: 127, class: 'missing-library' } });
  });

  it('failed liveness probes make it unhealthy, then restart it as liveness-failed', async () => {
    world.health = 'ok';
    await load({ supervision: { health: { intervalMs: 1_000, failureThreshold: 2 }, backoff: { initialMs: 100, jitter: 0 } } });
    await advance(50);
    expect(state()).toBe('ready');
    world.health = 'refused';
    await advance(1_000);
    expect(state()).toBe('unhealthy');
    await advance(1_000);
    expect(world.children[0]!.signals).toContain('SIGTERM');
    expect(events.find((e) => e.to === 'backoff')?.failureClass).toBe('liveness-failed');
    world.health = 'ok';
    await advance(200);
    expect(world.children).toHaveLength(2);
    expect(path()).toEqual(['starting', 'ready', 'unhealthy', 'stopping', 'backoff', 'starting', 'ready']);
  });

  it('stop sends SIGTERM, then SIGKILL after the grace period to a server that ignores it', async () => {
    world.health = 'ok';
    world.next = { onTerm: 'ignore' };
    await load({ supervision: { stopGraceMs: 2_000 } });
    await advance(50);
    const stopped = supervisor.stop('a');
    await advance(1_900);
    expect(world.last().signals).toEqual(['SIGTERM']);
    await advance(200);
    await stopped;
    expect(world.last().signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(supervisor.get('a')).toMatchObject({ state: 'stopped', pid: null, lastExit: { signal: 'SIGKILL', class: null } });
  });

  it('a stop during the backoff ends it: stopped, nothing spawned again', async () => {
    await load({ supervision: { backoff: { initialMs: 10_000, maxMs: 10_000, jitter: 0 } } });
    await advance(50);
    world.last().exit(1);
    await advance(10);
    expect(state()).toBe('backoff');
    await supervisor.stop('a');
    await advance(20_000);
    expect(state()).toBe('stopped');
    expect(world.children).toHaveLength(1);
  });

  it('start during a backoff starts at once and answers with the new start', async () => {
    await load({ supervision: { backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } } });
    await advance(50);
    world.last().exit(1);
    await advance(10);
    expect(state()).toBe('backoff');
    const status = await supervisor.start('a');
    expect(status.state).toBe('starting');
    expect(status.reason).toContain('start requested');
    await advance(10);
    expect(world.children).toHaveLength(2);
  });

  it('a start asked as soon as "stopped" is reported starts again (the router does it for a request that came during an unload)', async () => {
    world.health = 'ok';
    await load();
    await advance(50);
    expect(state()).toBe('ready');
    let started: Promise<unknown> | undefined;
    const unsubscribe = supervisor.onTransition((event) => {
      if (event.to === 'stopped' && started === undefined) started = supervisor.start('a');
    });
    const stopping = supervisor.stop('a');
    await advance(50);
    await stopping;
    unsubscribe();
    await advance(10);
    await started;
    await advance(50);
    expect(path()).toEqual(['starting', 'ready', 'stopping', 'stopped', 'starting', 'ready']);
    expect(world.children).toHaveLength(2);
  });

  it('a start waiting for the previous run to end is dropped when a stop comes after it (the daemon shutting down)', async () => {
    world.health = 'ok';
    await load();
    await advance(50);
    let stoppedAgain: Promise<unknown> | undefined;
    const unsubscribe = supervisor.onTransition((event) => {
      if (event.to !== 'stopped' || stoppedAgain !== undefined) return;
      void supervisor.start('a');
      stoppedAgain = supervisor.stop('a');
    });
    const stopping = supervisor.stop('a');
    await advance(50);
    await stopping;
    await stoppedAgain;
    unsubscribe();
    await advance(100);
    expect(state()).toBe('stopped');
    expect(world.children).toHaveLength(1);
  });

  it("restart policy 'never' fails a crashed instance; 'on-failure' stops one that exited cleanly", async () => {
    await load({ supervision: { restart: 'never' } });
    await advance(50);
    world.last().exit(3);
    await advance(10);
    expect(supervisor.get('a')).toMatchObject({ state: 'failed', reason: expect.stringContaining("restart policy 'never'") });

    await load({ supervision: { restart: 'on-failure' } }, ['b']);
    await advance(50);
    world.last().exit(0);
    await advance(10);
    expect(state('b')).toBe('stopped');
  });

  it('reload: removed instances stop, changed ones restart with the new spec, unchanged ones keep their process', async () => {
    world.health = 'ok';
    await load({}, ['a', 'b', 'c']);
    await advance(50);
    const pids = Object.fromEntries(['a', 'b', 'c'].map((n) => [n, supervisor.get(n)!.pid]));
    const reloaded = supervisor.reload({ file: 'test', enable: true, instances: [fakeSpec('a', 9000), fakeSpec('b', 9001, { args: ['--changed'] })] });
    await advance(100);
    expect(await reloaded).toEqual({ added: [], removed: ['c'], changed: ['b'], unchanged: ['a'] });
    await advance(50);
    expect(supervisor.get('a')!.pid).toBe(pids.a);
    expect(supervisor.get('b')!.pid).not.toBe(pids.b);
    expect(supervisor.get('b')!.argv).toContain('--changed');
    expect(supervisor.get('c')).toBeUndefined();
  });
});
