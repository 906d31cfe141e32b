/**
 * A container start, rehearsed without a container engine. A temp dir is laid out as the Dockerfile
 * lays out the image (rehearsal-image.ts: its directories and links, /opt/infer-entry with production
 * dependencies only, the shims, node on PATH), the compose file's archive and config are "mounted" (a
 * llama.cpp package whose llama-server is the fake server), and the Dockerfile's ENTRYPOINT + CMD run
 * with the compose file's environment as PID 1 of a fresh PID namespace — once as the default root
 * user, once as the non-root `infer` user of `--build-arg RUN_AS=infer`, for whom only /soft/app is
 * writable. Then the HEALTHCHECK command and every `docker exec` line of the image README run against
 * it (as the same user, as `docker exec` does), and it gets SIGTERM the way `docker stop` sends it.
 */
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeArchive } from '../fixtures/installer/archive-builder.js';
import { alive, freePort, killAll, startProcess, waitFor, type Running } from '../unit/control/harness.js';
import {
  argDefault,
  asUser,
  cmdline,
  descendants,
  execLines,
  layOutImage,
  mapper,
  namespaceInit,
  run,
  uidOf,
  type ImageUser,
} from './rehearsal-image.js';
import {
  COMPOSE_DIR,
  COMPOSE_FILES,
  DOCKERFILE,
  DOCKER_STOP_TIMEOUT_S,
  IMAGE_README,
  REPO,
  dockerfileEnv,
  dockerfileInstructions,
  durationSeconds,
  execForm,
  healthcheck,
  interpolateDefaults,
  loadYaml,
  need,
  only,
  read,
  runtimeStage,
} from './support.js';

const BUILT_CLI = path.join(REPO, 'dist/src/main.js');
const FAKE_SERVER = path.join(REPO, 'test/fixtures/fake-llama-server.mjs');
/** Inside the mounted package, so the server is readable by the non-root user wherever the repository lives. */
const FAKE_SERVER_NAME = 'fake-llama-server.mjs';
const runtime = runtimeStage(dockerfileInstructions(read(DOCKERFILE)));
const service = loadYaml(COMPOSE_FILES[0]!).services['infer-dev'];
const NON_ROOT: ImageUser = { name: 'infer', uid: Number(argDefault(runtime, 'APP_UID')) };

const users: [string, ImageUser | undefined][] = [
  ['as root (the default USER)', undefined],
  [`as the non-root user (--build-arg RUN_AS=${NON_ROOT.name}, uid ${NON_ROOT.uid})`, NON_ROOT],
];

describe.each(users)('rehearsal: the image started as compose starts it, as PID 1 of a PID namespace, %s', (_label, user) => {
  let fsRoot: string;
  let map: (text: string) => string;
  let env: NodeJS.ProcessEnv;
  let ports: number[];
  let statusPort: number;
  let container: Running | undefined;
  /** Host pids of the fake llama-servers, for the orphan check and the cleanup. */
  let servers: number[] = [];

  beforeAll(async () => {
    need('unshare', 'util-linux');
    need('tini', 'tini');
    if (user) need('setpriv', 'util-linux');
    if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run 'npm run build' first`);
    fsRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-rehearsal-'));
    map = mapper(fsRoot);
    await layOutImage(fsRoot, runtime, user);

    // The mounts of the compose file: the package archive, the config (ports made free, servers on loopback), models.
    const archive = map(interpolateDefaults(service.environment.AUTO_INFER_LLAMA_CPP_PKG_PATH));
    await fs.mkdir(path.dirname(archive), { recursive: true });
    const server = `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "version: 9999 (rehearsal)" >&2; exit 0; fi\nexec ${JSON.stringify(process.execPath)} "$(dirname "$0")/${FAKE_SERVER_NAME}" "$@"\n`;
    await writeArchive(archive, 'tar.gz', [
      { type: 'file', path: 'README.md', content: '# llama.cpp (fake)\n' },
      { type: 'dir', path: 'bin', mode: 0o755 },
      { type: 'file', path: 'bin/llama-server', content: server, mode: 0o755 },
      { type: 'file', path: `bin/${FAKE_SERVER_NAME}`, content: readFileSync(FAKE_SERVER), mode: 0o644 },
      // The fake's inference endpoints live in a module beside it.
      { type: 'file', path: 'bin/fake-llama-api.mjs', content: readFileSync(path.join(path.dirname(FAKE_SERVER), 'fake-llama-api.mjs')), mode: 0o644 },
      { type: 'file', path: 'bin/libllama.so.0', content: 'not really a library\n', mode: 0o644 },
      { type: 'symlink', path: 'bin/libllama.so', target: 'libllama.so.0' },
    ]);
    let toml = read(path.join(COMPOSE_DIR, 'config/instances.toml')).replaceAll('host = "0.0.0.0"', 'host = "127.0.0.1"');
    ports = [];
    for (const m of toml.matchAll(/^port = (\d+)$/gm)) {
      const port = await freePort();
      ports.push(port);
      toml = toml.replace(m[0], `port = ${port}`);
    }
    expect(ports.length).toBe(2);
    const configFile = map(interpolateDefaults(service.environment.AUTO_INFER_LLAMA_CPP_CONFIG));
    await fs.mkdir(path.dirname(configFile), { recursive: true });
    await fs.writeFile(configFile, map(toml));
    for (const m of toml.matchAll(/^model = "(\/models\/[^"]+)"$/gm)) {
      const header = Buffer.alloc(64);
      header.write('GGUF', 0, 'latin1');
      await fs.writeFile(map(m[1]!), header);
    }

    // The container's environment: the image's ENV, then the compose file's (docker's order).
    statusPort = await freePort();
    const composeEnv = Object.fromEntries(Object.entries(service.environment as Record<string, string>).map(([k, v]) => [k, map(interpolateDefaults(String(v)))]));
    expect(composeEnv.AUTO_INFER_STATUS_ADDR).toBe('127.0.0.1:9464');
    env = {
      PATH: `${map('/usr/local/bin')}:/usr/sbin:/usr/bin:/sbin:/bin`,
      // docker sets HOME from the USER's passwd entry: /soft/app for infer (useradd --home-dir)
      HOME: user ? map('/soft/app') : fsRoot,
      ...Object.fromEntries(Object.entries(dockerfileEnv(runtime)).map(([k, v]) => [k, map(v)])),
      ...composeEnv,
      AUTO_INFER_STATUS_ADDR: `127.0.0.1:${statusPort}`,
      // a knob of the fake server only: a visible loading phase
      FAKE_LOAD_MS: '400',
    };
  }, 60_000);

  afterAll(async () => {
    if (container?.child.pid && container.child.exitCode === null) {
      servers.push(...descendants(container.child.pid));
      await killAll([container.child.pid]);
    }
    await killAll(servers.filter((pid) => alive(pid) && cmdline(pid).includes(FAKE_SERVER_NAME)));
    await fs.rm(fsRoot, { recursive: true, force: true });
  });

  it('the CLI runs from the image layout (as the Dockerfile build step checks)', async () => {
    const { code, output } = await run(asUser(['infer-entry', '--version'], user), env);
    expect(output.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(code).toBe(0);
  });

  it('the HEALTHCHECK reports unhealthy (exit 1, as Docker documents it) while no daemon runs', async () => {
    const { code } = await run(asUser(healthcheck(runtime).command, user), env);
    expect(code).toBe(1);
  });

  it('boots: installs the mounted package, serves the config, and the HEALTHCHECK turns healthy', async () => {
    const argv = [...execForm(only(runtime, 'ENTRYPOINT').args), ...execForm(only(runtime, 'CMD').args)];
    // --kill-child: if unshare is killed (a broken test), its child — the namespace's PID 1 — dies
    // too, and with it everything in the namespace; nothing of the rehearsal can leak.
    container = startProcess(need('unshare', 'util-linux'), ['--pid', '--fork', '--kill-child', '--mount-proc', ...asUser(argv, user)], env);
    const { command } = healthcheck(runtime);
    await waitFor(
      'the HEALTHCHECK to pass',
      async () => {
        if (container!.child.exitCode !== null) throw new Error(`the container exited ${container!.child.exitCode}: ${container!.output().slice(-2000)}`);
        return (await run(asUser(command, user), env, 5_000)).code === 0;
      },
      45_000,
    );
    // tini is PID 1 and infer-entry its child, as in the container
    const init = namespaceInit(container.child.pid!)!;
    expect(readFileSync(`/proc/${init}/comm`, 'utf8').trim()).toBe('tini');
    // USER applies to PID 1 and everything below it: tini, infer-entry and each llama-server
    const below = [init, ...descendants(init)];
    expect(below.length).toBeGreaterThanOrEqual(4);
    for (const pid of below) expect(uidOf(pid), cmdline(pid)).toBe(user?.uid ?? 0);

    const install = map('/soft/app/llama-cpp');
    expect(JSON.parse(await fs.readFile(path.join(install, '.installed-from.json'), 'utf8')).archive_name).toBe('llama-cpp.tar.gz');
    for (const link of ['check-and-run-llama-cpp.sh', 'install-llama-cpp-pkg.sh', 'get-llama-cpp-pkg.sh']) expect(existsSync(path.join(install, link)), link).toBe(true);
    for (const port of ports) expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    const readyz = await fetch(`http://127.0.0.1:${statusPort}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await fetch(`http://127.0.0.1:${statusPort}/metrics`).then((r) => r.text())).toContain('infer_entry_instance_ready{instance="llama3"} 1');
    if (user) {
      // What it wrote (install, cache, socket) belongs to the user: /soft/app is all it needs writable.
      for (const p of [install, map('/soft/app/cache/llama-cpp.tar.gz'), map('/soft/app/run/infer-entry.sock')]) expect((await fs.stat(p)).uid, p).toBe(user.uid);
    }
  }, 60_000);

  it("every `docker exec` line of the image README works against it", async () => {
    const lines = execLines(read(IMAGE_README));
    expect(lines.map((l) => l[0])).toEqual(expect.arrayContaining(['check-and-run', 'infer-entry', '/soft/app/llama-cpp/check-and-run-llama-cpp.sh']));
    for (const line of lines) {
      const { code, output } = await run(asUser(line.map(map), user), env);
      expect(code, `${line.join(' ')} →\n${output}`).toBe(0);
      if (line[1] === 'status') expect(output).toMatch(/llama3[\s\S]*ready[\s\S]*qwen|qwen[\s\S]*llama3/);
      if (line[0] === 'check-and-run') expect(output).toContain('llama3');
      if (line[1] === 'health') expect(output.trim()).toBe('ready');
    }
  }, 120_000);

  it('docker stop: SIGTERM to PID 1 stops everything and exits 0 within the stop grace period', async () => {
    expect(container, 'the container started').toBeDefined();
    const init = namespaceInit(container!.child.pid!)!;
    servers = descendants(container!.child.pid!).filter((pid) => cmdline(pid).includes(FAKE_SERVER_NAME));
    expect(servers.length, 'one fake llama-server per instance').toBe(2);
    const before = container!.logs().length;
    process.kill(init, 'SIGTERM');
    // plain `docker stop` waits 10 s, compose this file's stop_grace_period: the shorter one counts
    const grace = Math.min(DOCKER_STOP_TIMEOUT_S, durationSeconds(service.stop_grace_period)) * 1000;
    // docker stop would SIGKILL after the grace period: the rehearsal does too, and the test then fails
    const timer = setTimeout(() => container!.child.kill('SIGKILL'), grace);
    const exit = await container!.exit.finally(() => clearTimeout(timer));
    expect(exit, container!.output().slice(-2000)).toEqual({ code: 0, signal: null });
    // Each llama-server stopped on the SIGTERM itself, not killed when the namespace died with PID 1.
    const stopped = container!.logs().slice(before).filter((l) => l.to === 'stopped' && l.from === 'stopping');
    expect(stopped.map((l) => [l.instance, l.exit_code ?? null, l.signal ?? null]).sort()).toEqual([
      ['llama3', 0, null],
      ['qwen', 0, null],
    ]);
  }, 60_000);
});
