/**
 * podman and buildah as root, confined to this test: our own containers.conf and storage.conf (in a
 * temp dir, pointed at by CONTAINERS_CONF / CONTAINERS_STORAGE_CONF) so the machine's defaults are
 * never read or changed. The image store lives in a fixed cache dir, so the base images and build
 * layers survive between runs; everything else (run state, networks) is in the temp dir.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { need } from '../../fixtures/need-tool.js';

export interface EngineDirs {
  /** Kept between runs: image store, base rootfs, node/npm tarballs. */
  cache: string;
  /** This run's: configs, run state, network definitions. */
  tmp: string;
}

export interface Engine {
  env: NodeJS.ProcessEnv;
  podman(args: string[], opts?: RunOptions): Promise<string>;
  buildah(args: string[], opts?: RunOptions): Promise<string>;
  run(tool: string, args: string[], opts?: RunOptions): Promise<string>;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Each line of output as it comes (long builds). */
  onLine?: (line: string) => void;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** A hard limit of this process (a row of /proc/self/limits, e.g. "Max open files"), capped. */
async function hardLimit(row: string, cap: number): Promise<number> {
  const line = (await readFile('/proc/self/limits', 'utf8')).split('\n').find((l) => l.startsWith(row));
  const hard = line?.slice(row.length).trim().split(/\s+/)[1];
  const n = hard === 'unlimited' ? cap : Number(hard);
  return Number.isFinite(n) && n > 0 ? Math.min(n, cap) : Math.min(1024, cap);
}

export async function writeEngineConfig(dirs: EngineDirs): Promise<NodeJS.ProcessEnv> {
  const store = join(dirs.cache, 'storage');
  await mkdir(store, { recursive: true });
  await mkdir(join(dirs.tmp, 'networks'), { recursive: true });
  // podman's default nofile and nproc are above what root may set here (no CAP_SYS_RESOURCE in the
  // sandbox; nproc above 32768 is refused too): stay at or below this process's own hard limits.
  const nofile = await hardLimit('Max open files', 1_048_576);
  const nproc = await hardLimit('Max processes', 32_768);
  const containersConf = join(dirs.tmp, 'containers.conf');
  const storageConf = join(dirs.tmp, 'storage.conf');
  // runc: crun refuses the hybrid cgroup layout of these hosts. cgroupfs + file events: no systemd.
  await writeFile(
    containersConf,
    [
      '[containers]',
      `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = ${JSON.stringify(join(dirs.tmp, 'libpod'))}`,
      '[network]',
      `network_config_dir = ${JSON.stringify(join(dirs.tmp, 'networks'))}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    storageConf,
    ['[storage]', 'driver = "overlay"', `graphroot = ${JSON.stringify(store)}`, `runroot = ${JSON.stringify(join(dirs.tmp, 'storage'))}`, ''].join('\n'),
  );
  return { ...process.env, CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf };
}

export function engine(env: NodeJS.ProcessEnv): Engine {
  const run = (tool: string, args: string[], opts: RunOptions = {}): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(
        tool,
        args,
        { cwd: opts.cwd, env: { ...env, ...opts.env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 * 1024 * 1024, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const status = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
          reject(new CommandError(`${tool} ${args.join(' ')} failed (${status ?? err.message}): ${stderr.trim().split('\n').slice(-15).join('\n')}`, status, stdout, stderr));
        },
      );
      if (opts.onLine) {
        let rest = '';
        const feed = (chunk: Buffer): void => {
          const lines = (rest + chunk.toString()).split('\n');
          rest = lines.pop()!;
          for (const l of lines) opts.onLine!(l);
        };
        child.stdout?.on('data', feed);
        child.stderr?.on('data', feed);
      }
    });
  return {
    env,
    run,
    podman: (args, opts) => run(need('podman', 'podman'), args, opts),
    buildah: (args, opts) => run(need('buildah', 'buildah'), args, opts),
  };
}
