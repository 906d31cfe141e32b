// Every accepted archive layout of the real build installs and runs; a new archive installs while an instance runs; a broken one is refused.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { runCli, userEnv } from './support/cli.js';
import { completion, type InstanceConf } from './support/llama.js';
import { exeOf, sleep } from './support/processes.js';
import { Scenario } from './support/scenario.js';
import { byName, readStatus, waitReady } from './support/status.js';

const sha256 = async (file: string): Promise<string> => createHash('sha256').update(await readFile(file)).digest('hex');

describe('installing the real build from every accepted layout', () => {
  const e2e = inject('e2e');
  const layouts = [
    ['documented .tar.gz (README + bin/)', 'documentedTarGz'],
    ['upstream release .tar.gz (llama-bNNNN/ flat)', 'upstreamTarGz'],
    ['older upstream .zip (build/bin/, zip symlinks)', 'olderZip'],
    ['.tar with a wrapper directory around bin/', 'wrapperTar'],
  ] as const;
  let s: Scenario;
  beforeAll(async () => {
    s = await Scenario.create('layouts');
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it.each(layouts)('%s installs, keeps the .so symlinks, and llama-server starts from the install', async (_label, key) => {
    const root = join(s.dir, key);
    const r = await runCli(['install', '--pkg', e2e.archives[key]], userEnv(root));
    expect(r.code, r.stderr).toBe(0);
    const bin = join(root, 'llama-cpp', 'bin');
    expect(await realpath(join(bin, 'libllama.so'))).toMatch(/libllama\.so\.\d+\.\d+\.\d+$/);
    // No LD_LIBRARY_PATH: the relocated tree must find its libraries by itself ($ORIGIN), as upstream builds do.
    const v = spawnSync(join(bin, 'llama-server'), ['--version'], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8', timeout: 20_000 });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr + v.stdout).toContain(e2e.commit.slice(0, 7));
  });
});

describe('replacing the install under running instances (scenarios 6, 7)', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let instances: InstanceConf[];

  beforeAll(async () => {
    s = await Scenario.create('swap');
    instances = await s.writeConfig(e2e.model, [{ name: 'alpha' }]);
    s.boot(s.bootEnv(e2e.archives.documentedTarGz));
    await waitReady(s.env, ['alpha']);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('6. a different archive installs atomically while alpha runs; restart picks up the new binary', async () => {
    const oldRelease = await realpath(join(s.root, 'llama-cpp'));
    const oldPid = byName(await readStatus(s.env), 'alpha').pid!;
    expect(exeOf(oldPid)).toBe(join(oldRelease, 'bin', 'llama-server'));

    // A reader that keeps looking at the path the whole time: it must never find it missing.
    const server = join(s.root, 'llama-cpp', 'bin', 'llama-server');
    let missing = 0;
    let looks = 0;
    let installing = true;
    const reader = (async () => {
      while (installing && looks < 1_000_000) {
        looks++;
        if (!existsSync(server)) missing++;
        await sleep(0);
      }
    })();
    const r = await runCli(['install', '--pkg', e2e.archives.upstreamTarGz], s.env, 120_000);
    installing = false;
    await reader;
    expect(r.code, r.stderr).toBe(0);
    expect(looks).toBeGreaterThan(10);
    expect(missing, `bin/llama-server was missing in ${missing} of ${looks} looks`).toBe(0);

    const newRelease = await realpath(join(s.root, 'llama-cpp'));
    expect(newRelease).not.toBe(oldRelease);
    const marker = JSON.parse(await readFile(join(newRelease, '.installed-from.json'), 'utf8')) as { sha256: string };
    expect(marker.sha256).toBe(await sha256(e2e.archives.upstreamTarGz));

    // The running server is untouched by the install...
    expect(byName(await readStatus(s.env), 'alpha').pid).toBe(oldPid);
    expect((await completion(instances[0]!.port)).tokens).toBe(8);

    // ...and a restart runs the new binary.
    const restart = await runCli(['restart', 'alpha'], s.env);
    expect(restart.code, restart.stderr).toBe(0);
    const alpha = byName(await waitReady(s.env, ['alpha']), 'alpha');
    expect(alpha.pid).not.toBe(oldPid);
    expect(exeOf(alpha.pid!)).toBe(join(newRelease, 'bin', 'llama-server'));
    expect((await completion(instances[0]!.port)).tokens).toBe(8);
  });

  it('7. a package whose llama-server cannot start (libllama removed) is refused; the old install keeps serving', async () => {
    const release = await realpath(join(s.root, 'llama-cpp'));
    const marker = await readFile(join(release, '.installed-from.json'), 'utf8');
    const pid = byName(await readStatus(s.env), 'alpha').pid!;

    const r = await runCli(['install', '--pkg', e2e.archives.missingLibTarGz], s.env, 120_000);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/libllama\.so/);

    expect(await realpath(join(s.root, 'llama-cpp'))).toBe(release);
    expect(await readFile(join(release, '.installed-from.json'), 'utf8')).toBe(marker);
    expect(byName(await readStatus(s.env), 'alpha').pid).toBe(pid);
    expect((await completion(instances[0]!.port)).tokens).toBe(8);

    // A restart after the refused install still starts the old, working binary.
    expect((await runCli(['restart', 'alpha'], s.env)).code).toBe(0);
    const alpha = byName(await waitReady(s.env, ['alpha']), 'alpha');
    expect(exeOf(alpha.pid!)).toBe(join(release, 'bin', 'llama-server'));
  });
});
