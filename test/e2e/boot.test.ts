// In the order a user lives them: cold boot, docker stop, boot again.
import { existsSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import type { Daemon } from './support/cli.js';
import { logEvents, runCli } from './support/cli.js';
import { chat, completion, health, type InstanceConf } from './support/llama.js';
import { commOf, isAlive, llamaServersUnder } from './support/processes.js';
import { Scenario } from './support/scenario.js';
import { byName, readStatus, waitReady } from './support/status.js';

describe('boot with the real llama-server (scenarios 1, 8, 2)', () => {
  const e2e = inject('e2e');
  let s: Scenario;
  let instances: InstanceConf[];
  let daemon: Daemon;
  let bootPids: number[] = [];

  beforeAll(async () => {
    s = await Scenario.create('boot');
    instances = await s.writeConfig(e2e.model, [{ name: 'alpha' }, { name: 'beta' }]);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('1. cold boot installs the archive, and both instances become ready and answer', async () => {
    daemon = s.boot(s.bootEnv(e2e.archives.documentedTarGz));
    const list = await waitReady(s.env, ['alpha', 'beta']);

    const server = join(s.root, 'llama-cpp', 'bin', 'llama-server');
    expect(existsSync(server)).toBe(true);
    const marker = JSON.parse(await readFile(join(s.root, 'llama-cpp', '.installed-from.json'), 'utf8')) as Record<string, unknown>;
    expect(marker.archive_name).toBe(e2e.archives.documentedTarGz.split('/').pop());

    bootPids = instances.map((i) => byName(list, i.name).pid!);
    for (const pid of bootPids) expect(commOf(pid)).toBe('llama-server');
    expect(llamaServersUnder(s.dir).sort()).toEqual([...bootPids].sort());

    const answers = [];
    for (const inst of instances) {
      expect(byName(list, inst.name).port).toBe(inst.port);
      expect(await health(inst.port)).toBe(200);
      const c = await completion(inst.port);
      expect(c.tokens).toBe(8);
      answers.push(c.content);
      const ch = await chat(inst.port);
      expect(typeof ch.content).toBe('string');
    }
    // Same model, temperature 0: both instances produce the same text.
    expect(answers[1]).toBe(answers[0]);

    const h = await runCli(['health'], s.env);
    expect(h.code, h.stderr).toBe(0);
  });

  it('8. SIGTERM to the daemon stops every llama-server, exits 0 and leaves no process', async () => {
    const exit = await daemon.stop(15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of bootPids) expect(isAlive(pid), `llama-server pid ${pid} still alive`).toBe(false);
    expect(llamaServersUnder(s.dir)).toEqual([]);
    // Within the grace period: each server exited on the SIGTERM itself (status 0), none needed the SIGKILL.
    const stopped = logEvents(daemon.output()).filter((e) => e.to === 'stopped' && e.from === 'stopping');
    expect(stopped.map((e) => [e.instance, e.exit_code ?? null, e.signal ?? null]).sort()).toEqual([
      ['alpha', 0, null],
      ['beta', 0, null],
    ]);
    for (const inst of instances) expect(await health(inst.port, 500)).toBeNull();
    const h = await runCli(['health'], s.env);
    expect(h.code).not.toBe(0);
  });

  it('2. a second boot with the same archive does not extract again and reaches the same ready state', async () => {
    const releaseDir = await realpath(join(s.root, 'llama-cpp'));
    const before = await stat(releaseDir);
    const markerBefore = await readFile(join(releaseDir, '.installed-from.json'), 'utf8');

    daemon = s.boot(s.bootEnv(e2e.archives.documentedTarGz));
    const list = await waitReady(s.env, ['alpha', 'beta']);

    expect(await realpath(join(s.root, 'llama-cpp'))).toBe(releaseDir);
    const after = await stat(releaseDir);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(await readFile(join(releaseDir, '.installed-from.json'), 'utf8')).toBe(markerBefore);
    const install = logEvents(daemon.output()).filter((e) => e.step === 'install');
    expect(install.length, 'the second boot logged no install step at all').toBeGreaterThan(0);
    expect(install.filter((e) => e.phase === 'extract')).toEqual([]);
    for (const inst of instances) {
      expect(byName(list, inst.name).state).toBe('ready');
      expect((await completion(inst.port)).tokens).toBe(8);
    }
    const status = await readStatus(s.env);
    expect(status.map((i) => i.state).sort()).toEqual(['ready', 'ready']);
  });
});
