/**
 * A server that once printed a non-fixable message (bad argument) and later
 * dies silently must be classed from its own run's lines: `crashed`, restarted,
 * not `bad-argument` forever. The real supervisor and real processes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { createSupervisor } from '../../src/supervisor/supervisor.js';
import type { SupervisorApi } from '../../src/supervisor/types.js';
import { fakeSpec, freePort, recordTransitions } from '../unit/supervisor/fixtures.js';

let supervisor: SupervisorApi | undefined;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'infer-entry-class-run-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await supervisor?.stopAll({ immediate: true });
  supervisor = undefined;
});

describe('failure class', () => {
  it('comes from the exiting run only: bad-argument once, then a silent crash is `crashed` and restarted', async () => {
    const marker = path.join(dir, 'ran-once');
    const script = `if [ -e ${marker} ]; then exit 1; fi; touch ${marker}; echo "error: invalid argument: --bogus" >&2; exit 1`;
    const spec = { ...fakeSpec('a', await freePort()), executable: '/bin/sh', args: ['-c', script] };
    supervisor = createSupervisor({ log: silentLogger(), deps: { portFree: async () => true } });
    const rec = recordTransitions(supervisor);
    await supervisor.reload({ file: '<test>', enable: true, instances: [spec] });
    const exits = (e: { to: string }) => e.to === 'backoff' || e.to === 'failed';
    const first = await rec.waitFor((e, all) => exits(e) && all.filter(exits).indexOf(e) === 0, 10_000, 'the first exit');
    expect(first.failureClass).toBe('bad-argument');
    const second = await rec.waitFor((e, all) => exits(e) && all.filter(exits).indexOf(e) === 1, 10_000, 'the second exit');
    expect(second.failureClass).toBe('crashed');
    expect(second.to).toBe('backoff');
    expect(supervisor.get('a')!.lastExit?.lastLines.join('\n') ?? '').not.toContain('invalid argument');
  });
});
