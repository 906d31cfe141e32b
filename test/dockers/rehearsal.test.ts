/**
 * A container start, rehearsed without a container engine. A temp dir is laid out as the Dockerfile
 * lays out the image (its `ln -s` links, the shims copied to /soft/app/shims, node on PATH), the
 * compose file's archive and config are "mounted" (a llama.cpp package whose llama-server is the fake
 * server), and the Dockerfile's ENTRYPOINT + CMD run with the compose file's environment as PID 1 of
 * a fresh PID namespace. Then the HEALTHCHECK command and every `docker exec` line of the image README
 * run against it, and it gets SIGTERM the way `docker stop` sends it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeArchive } from '../fixtures/installer/archive-builder.js';
import { alive, freePort, killAll, startProcess, waitFor, type Running } from '../unit/control/harness.js';
import {
  COMPOSE_DIR,
  COMPOSE_FILES,
  DOCKERFILE,
  DOCKER_STOP_TIMEOUT_S,
  IMAGE_README,
  REPO,
  SHIMS,
  SHIMS_DIR,
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

const MAIN = path.join(REPO, 'dist/src/main.js');
const FAKE_SERVER = path.join(REPO, 'test/fixtures/fake-llama-server.mjs');
const runtime = runtimeStage(dockerfileInstructions(read(DOCKERFILE)));
const service = loadYaml(COMPOSE_FILES[0]!).services['infer-dev'];

/** A container path → where it lives in the rehearsal (the image's dirs under `fsRoot`, /opt/infer-entry = this repo). */
function mapper(fsRoot: string): (text: string) => string {
  const prefixes: [string, string][] = [
    ['/opt/infer-entry', REPO],
    ['/usr/local/bin', path.join(fsRoot, 'usr/local/bin')],
    ['/soft/app', path.join(fsRoot, 'soft/app')],
    ['/models', path.join(fsRoot, 'models')],
    ['/config', path.join(fsRoot, 'config')],
    ['/pkg', path.join(fsRoot, 'pkg')],
  ];
  return (text) => {
    for (const [from, to] of prefixes) text = text.replace(new RegExp(`(^|[\\s="':])${from}(?=/|$|[\\s"'])`, 'g'), `$1${to}`);
    return text;
  };
}

/** The `docker exec` (and podman / kubectl exec) command lines of the image README's code blocks. */
function execLines(): string[][] {
  const blocks = [...read(IMAGE_README).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const lines: string[][] = [];
  for (const line of blocks.flatMap((b) => b.split('\n')).map((l) => l.trim())) {
    const m = /^(?:docker|podman) exec (?:-\S+ )*infer-dev (.+)$/.exec(line) ?? /^kubectl exec (?:-\S+ )*deploy\/infer-dev -- (.+)$/.exec(line);
    if (!m) continue;
    if (/["'`$|&;]/.test(m[1]!)) throw new Error(`README exec line needs a shell to run here: ${line}`);
    lines.push(m[1]!.split(/\s+/));
  }
  return lines;
}

/**
 * Host pids of every process below `pid` (the namespace's own pid numbers mean nothing out here,
 * so the fake servers are found by walking /proc, never by the pids they see themselves).
 */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < 1000) {
    const current = queue.shift()!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children: number[] = [];
      try {
        children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        // gone
      }
      for (const child of children) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** The namespace's PID 1 (tini), seen from here: the only child of `unshare --fork`. */
function namespaceInit(unsharePid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined;
  } catch {
    return undefined;
  }
}

function run(argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}${error.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('rehearsal: the image started as compose starts it, as PID 1 of a PID namespace', () => {
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
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' first`);
    fsRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-rehearsal-'));
    map = mapper(fsRoot);

    // The image: directories, links and copies as the Dockerfile's runtime stage makes them.
    const runs = runtime.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' ');
    for (const m of runs.matchAll(/mkdir -p ((?:\/\S+ ?)+)/g)) for (const dir of m[1]!.trim().split(/\s+/)) await fs.mkdir(map(dir), { recursive: true });
    await fs.mkdir(map('/usr/local/bin'), { recursive: true });
    const nodeCopy = runtime.find((i) => i.keyword === 'COPY' && i.args.startsWith('--from=node '))!;
    await fs.symlink(process.execPath, map(nodeCopy.args.split(/\s+/).at(-1)!));
    const shimCopy = runtime.find((i) => i.keyword === 'COPY' && i.args.includes(path.relative(REPO, SHIMS_DIR)))!;
    for (const shim of SHIMS) await fs.copyFile(path.join(SHIMS_DIR, shim), path.join(map(shimCopy.args.split(/\s+/).at(-1)!), shim));
    for (const m of runs.matchAll(/ln -s (\S+) (\S+)/g)) await fs.symlink(map(m[1]!), map(m[2]!));

    // The mounts of the compose file: the package archive, the config (ports made free, servers on loopback), models.
    const archive = map(interpolateDefaults(service.environment.AUTO_INFER_LLAMA_CPP_PKG_PATH));
    await fs.mkdir(path.dirname(archive), { recursive: true });
    const server = `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "version: 9999 (rehearsal)" >&2; exit 0; fi\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FAKE_SERVER)} "$@"\n`;
    await writeArchive(archive, 'tar.gz', [
      { type: 'file', path: 'README.md', content: '# llama.cpp (fake)\n' },
      { type: 'dir', path: 'bin', mode: 0o755 },
      { type: 'file', path: 'bin/llama-server', content: server, mode: 0o755 },
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
      HOME: fsRoot,
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
    await killAll(servers.filter((pid) => alive(pid) && cmdline(pid).includes(FAKE_SERVER)));
    await fs.rm(fsRoot, { recursive: true, force: true });
  });

  it('the CLI runs from the image layout (as the Dockerfile build step checks)', async () => {
    const { code, output } = await run(['infer-entry', '--version'], env);
    expect(output.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(code).toBe(0);
  });

  it('the HEALTHCHECK reports unhealthy (exit 1, as Docker documents it) while no daemon runs', async () => {
    const { code } = await run(healthcheck(runtime).command, env);
    expect(code).toBe(1);
  });

  it('boots: installs the mounted package, serves the config, and the HEALTHCHECK turns healthy', async () => {
    const argv = [...execForm(only(runtime, 'ENTRYPOINT').args), ...execForm(only(runtime, 'CMD').args)];
    // --kill-child: if unshare is killed (a broken test), its child — the namespace's PID 1 — dies
    // too, and with it everything in the namespace; nothing of the rehearsal can leak.
    container = startProcess(need('unshare', 'util-linux'), ['--pid', '--fork', '--kill-child', '--mount-proc', ...argv], env);
    const { command } = healthcheck(runtime);
    await waitFor(
      'the HEALTHCHECK to pass',
      async () => {
        if (container!.child.exitCode !== null) throw new Error(`the container exited ${container!.child.exitCode}: ${container!.output().slice(-2000)}`);
        return (await run(command, env, 5_000)).code === 0;
      },
      45_000,
    );
    // tini is PID 1 and infer-entry its child, as in the container
    const init = namespaceInit(container.child.pid!)!;
    expect(readFileSync(`/proc/${init}/comm`, 'utf8').trim()).toBe('tini');

    const install = map('/soft/app/llama-cpp');
    expect(JSON.parse(await fs.readFile(path.join(install, '.installed-from.json'), 'utf8')).archive_name).toBe('llama-cpp.tar.gz');
    for (const link of ['check-and-run-llama-cpp.sh', 'install-llama-cpp-pkg.sh', 'get-llama-cpp-pkg.sh']) expect(existsSync(path.join(install, link)), link).toBe(true);
    for (const port of ports) expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    const readyz = await fetch(`http://127.0.0.1:${statusPort}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await fetch(`http://127.0.0.1:${statusPort}/metrics`).then((r) => r.text())).toContain('infer_entry_instance_ready{instance="llama3"} 1');
  }, 60_000);

  it("every `docker exec` line of the image README works against it", async () => {
    const lines = execLines();
    expect(lines.map((l) => l[0])).toEqual(expect.arrayContaining(['check-and-run', 'infer-entry', '/soft/app/llama-cpp/check-and-run-llama-cpp.sh']));
    for (const line of lines) {
      const { code, output } = await run(line.map(map), env);
      expect(code, `${line.join(' ')} →\n${output}`).toBe(0);
      if (line[1] === 'status') expect(output).toMatch(/llama3[\s\S]*ready[\s\S]*qwen|qwen[\s\S]*llama3/);
      if (line[0] === 'check-and-run') expect(output).toContain('llama3');
      if (line[1] === 'health') expect(output.trim()).toBe('ready');
    }
  }, 120_000);

  it('docker stop: SIGTERM to PID 1 stops everything and exits 0 within the stop grace period', async () => {
    expect(container, 'the container started').toBeDefined();
    const init = namespaceInit(container!.child.pid!)!;
    servers = descendants(container!.child.pid!).filter((pid) => cmdline(pid).includes(FAKE_SERVER));
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
