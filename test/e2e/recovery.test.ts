// A crashed and a hung llama-server are replaced; the other instance never notices.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import type { InstanceStatus } from '../../src/supervisor/types.js';
import { logEvents, type Daemon } from './support/cli.js';
import { completion, type InstanceConf } from './support/llama.js';
import { isAlive, procState, sleep, waitFor } from './support/processes.js';
import { Scenario } from './support/scenario.js';
import { byName, readStatus, waitReady } from './support/status.js';

/** Records every state/pid `name` shows while `during` runs (polling status as a user's watch loop would). */
async function watch<T>(env: NodeJS.ProcessEnv, name: string, during: () => Promise<T>): Promise<{ seen: InstanceStatus[]; result: T }> {
  const seen: InstanceStatus[] = [];
  let done = false;
  const loop = (async () => {
    for (let i = 0; !done && i < 1_000; i++) {
      seen.push(byName(await readStatus(env), name));
      await sleep(100);
    }
  })();
  try {
    return { seen, result: await during() };
  } finally {
    done = true;
    await loop;
  }
}

describe('recovery of a real llama-server (scenarios 3, 4)', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let instances: InstanceConf[];
  let daemon: Daemon;

  beforeAll(async () => {
    s = await Scenario.create('recovery');
    // Fast liveness so a hung server is found in seconds, not the default 30 s.
    instances = await s.writeConfig(e2e.model, [{ name: 'alpha' }, { name: 'beta' }], {
      health_interval: '1s',
      health_timeout: '1s',
      health_failure_threshold: 2,
      restart_backoff_initial: '200ms',
    });
    daemon = s.boot(s.bootEnv(e2e.archives.documentedTarGz));
    await waitReady(s.env, ['alpha', 'beta']);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('3. kill -9 of one llama-server: it is restarted and ready again; the other stays ready throughout', async () => {
    const before = await readStatus(s.env);
    const alphaPid = byName(before, 'alpha').pid!;
    const beta = byName(before, 'beta');

    const { seen, result: after } = await watch(s.env, 'beta', async () => {
      process.kill(alphaPid, 'SIGKILL');
      return waitFor(
        'alpha to be ready with a new pid',
        async () => {
          const a = byName(await readStatus(s.env), 'alpha');
          return a.state === 'ready' && a.pid !== alphaPid && a.pid ? a : undefined;
        },
        60_000,
        200,
      );
    });

    expect(isAlive(alphaPid)).toBe(false);
    expect(procState(alphaPid), 'the killed llama-server was not reaped').toBeUndefined();
    expect(after.restarts).toBeGreaterThan(byName(before, 'alpha').restarts);
    expect(after.lastExit?.signal).toBe('SIGKILL');
    expect(seen.length).toBeGreaterThan(0);
    for (const b of seen) {
      expect(b.state).toBe('ready');
      expect(b.pid).toBe(beta.pid);
    }
    expect((await completion(instances[0]!.port)).tokens).toBe(8);
  });

  it('4. kill -STOP (a hung server): liveness fails, it is killed and restarted, and ready again', async () => {
    const before = byName(await readStatus(s.env), 'alpha');
    const hungPid = before.pid!;
    process.kill(hungPid, 'SIGSTOP');
    try {
      const after = await waitFor(
        'the hung alpha to be replaced by a ready process',
        async () => {
          const a = byName(await readStatus(s.env), 'alpha');
          return a.state === 'ready' && a.pid !== hungPid && a.pid ? a : undefined;
        },
        60_000,
        300,
      );
      expect(after.restarts).toBeGreaterThan(before.restarts);
    } finally {
      // Never leave a stopped process behind, even when the supervisor did not act.
      if (isAlive(hungPid)) process.kill(hungPid, 'SIGCONT');
    }
    await waitFor('the hung process to be gone', () => (isAlive(hungPid) ? undefined : true), 10_000);
    const events = logEvents(daemon.output());
    expect(events.some((e) => e.instance === 'alpha' && e.to === 'unhealthy'), 'no alpha → unhealthy event in the daemon log').toBe(true);
    expect((await completion(instances[0]!.port)).tokens).toBe(8);
    expect(byName(await readStatus(s.env), 'beta').state).toBe('ready');
  });
});
