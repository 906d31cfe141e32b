/**
 * One container of the built image, run with podman as the image README runs it, for the image tier:
 * the e2e tier's real llama-server archive and tiny model mounted where the compose file mounts its
 * archive and models, the compose config unchanged, ports published on 127.0.0.1 only, on a network
 * and (optionally) a named cache volume that the test creates and removes.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { InstanceStatus } from '../../../src/supervisor/types.js';
import { freePort } from '../../e2e/support/llama.js';
import { waitFor } from '../../e2e/support/processes.js';
import { CommandError, engine, type Engine } from './engine.js';

export const REPO = new URL('../../..', import.meta.url).pathname;
export const COMPOSE_DIR = join(REPO, 'dockers/compose');
/** The models `dockers/compose/config/instances.toml` names; each is the tiny model here. */
export const COMPOSE_MODELS = ['Meta-Llama-3-8B-Instruct-Q4_K_M.gguf', 'Qwen2.5-7B-Instruct-Q4_K_M.gguf'];
/** Container ports of the compose config's instances. */
export const INSTANCE_PORTS = { llama3: 8080, qwen: 8081 } as const;

export function imageEngine(): Engine {
  return engine({ ...process.env, ...inject('image').engineEnv });
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ContainerOptions {
  image: string;
  /** `--user`; unset: the image's USER. */
  user?: string;
  /** A named volume on /soft/app/cache (created and removed by the container's lifecycle). */
  cacheVolume?: boolean;
  /** Over the quick-start environment; null leaves a variable out. */
  env?: Record<string, string | null>;
}

export class Container {
  readonly name = `ie-image-${randomBytes(4).toString('hex')}`;
  readonly network = `${this.name}-net`;
  readonly volume = `${this.name}-cache`;
  ports: Record<keyof typeof INSTANCE_PORTS, number> = { llama3: 0, qwen: 0 };
  private started = false;

  constructor(
    readonly e: Engine,
    readonly o: ContainerOptions,
  ) {}

  async start(): Promise<void> {
    const { archives, model } = inject('e2e');
    this.ports = { llama3: await freePort(), qwen: await freePort() };
    await this.e.podman(['network', 'create', this.network]);
    if (this.o.cacheVolume) await this.e.podman(['volume', 'create', this.volume]);
    const env: Record<string, string | null> = {
      AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: '1',
      AUTO_INFER_LLAMA_CPP_PKG_PATH: '/pkg/llama-cpp.tar.gz',
      AUTO_INFER_LLAMA_CPP_ON_BOOT: '1',
      AUTO_INFER_LLAMA_CPP_CONFIG: '/config/instances.toml',
      INFER_ENTRY_LOG_FORMAT: 'json',
      ...this.o.env,
    };
    const args = ['run', '-d', '--name', this.name, '--network', this.network];
    for (const [inst, port] of Object.entries(INSTANCE_PORTS)) args.push('-p', `127.0.0.1:${this.ports[inst as keyof typeof INSTANCE_PORTS]}:${port}`);
    args.push('-v', `${archives.documentedTarGz}:/pkg/llama-cpp.tar.gz:ro`, '-v', `${join(COMPOSE_DIR, 'config')}:/config:ro`);
    for (const m of COMPOSE_MODELS) args.push('-v', `${model}:/models/${m}:ro`);
    if (this.o.cacheVolume) args.push('-v', `${this.volume}:/soft/app/cache`);
    for (const [k, v] of Object.entries(env)) if (v !== null) args.push('-e', `${k}=${v}`);
    if (this.o.user) args.push('--user', this.o.user);
    args.push(this.o.image);
    this.started = true;
    await this.e.podman(args);
  }

  /** `podman exec` (as the container's user, as `docker exec` does); never throws on a non-zero exit. */
  async exec(argv: string[], timeoutMs = 60_000): Promise<ExecResult> {
    try {
      const stdout = await this.e.podman(['exec', this.name, ...argv], { timeoutMs });
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      if (err instanceof CommandError && err.status !== null) return { code: err.status, stdout: err.stdout, stderr: err.stderr };
      throw err;
    }
  }

  /** `podman healthcheck run`: podman schedules healthchecks with systemd timers, absent here. */
  async healthcheck(): Promise<ExecResult> {
    try {
      const stdout = await this.e.podman(['healthcheck', 'run', this.name], { timeoutMs: 30_000 });
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      if (err instanceof CommandError && err.status !== null) return { code: err.status, stdout: err.stdout, stderr: err.stderr };
      throw err;
    }
  }

  async waitHealthy(timeoutMs = 180_000): Promise<void> {
    await waitFor('the container to turn healthy (podman healthcheck run)', async () => ((await this.healthcheck()).code === 0 ? true : undefined), timeoutMs, 1_000);
  }

  async status(): Promise<InstanceStatus[]> {
    const r = await this.exec(['infer-entry', 'status', '--json']);
    if (r.code !== 0) throw new Error(`status --json exited ${r.code}: ${r.stderr}`);
    const parsed = JSON.parse(r.stdout) as InstanceStatus[] | { instances: InstanceStatus[] };
    return Array.isArray(parsed) ? parsed : parsed.instances;
  }

  async inspect<T>(format: string): Promise<T> {
    return JSON.parse(await this.e.podman(['inspect', '--format', `{{json ${format}}}`, this.name])) as T;
  }

  async logs(): Promise<string> {
    return this.e.podman(['logs', this.name], { timeoutMs: 30_000 });
  }

  /** Host pids of every process in the container (`podman top … hpid`). */
  async hostPids(): Promise<number[]> {
    const out = await this.e.podman(['top', this.name, 'hpid']);
    return out.split('\n').slice(1).map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
  }

  async remove(): Promise<void> {
    if (!this.started) return;
    const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
    // -v: the anonymous volumes of the image's VOLUMEs go with the container.
    await quiet(this.e.podman(['rm', '-f', '-v', '-t', '0', this.name]));
    if (this.o.cacheVolume) await quiet(this.e.podman(['volume', 'rm', '-f', this.volume]));
    await quiet(this.e.podman(['network', 'rm', '-f', this.network]));
  }
}
