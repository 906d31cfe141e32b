import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startDaemon, userEnv, type Daemon } from './cli.js';
import { configToml, freePorts, type InstanceConf } from './llama.js';
import { isAlive, killQuietly, llamaServersUnder, sleep } from './processes.js';

/**
 * One scenario's world: a temp INFER_ENTRY_ROOT, a config file, the env a user would set,
 * and every process started, so afterAll can stop them all by pid.
 */
export class Scenario {
  readonly daemons: Daemon[] = [];
  private constructor(readonly dir: string, readonly root: string, readonly configFile: string) {}

  static async create(label: string): Promise<Scenario> {
    const dir = await mkdtemp(join(tmpdir(), `infer-entry-e2e-${label}-`));
    const root = join(dir, 'root');
    await mkdir(join(dir, 'logs'), { recursive: true });
    await mkdir(root, { recursive: true });
    return new Scenario(dir, root, join(dir, 'instances.toml'));
  }

  /** Writes the config with fresh ports; returns the instances with their ports. */
  async writeConfig(model: string, names: Array<{ name: string; enabled?: boolean }>, control: Record<string, string | number> = {}): Promise<InstanceConf[]> {
    const ports = await freePorts(names.length);
    const instances = names.map((n, i) => ({ ...n, port: ports[i]! }));
    await writeFile(this.configFile, configToml(model, instances, { log_dir: join(this.dir, 'logs'), ...control }));
    return instances;
  }

  async appendConfig(text: string): Promise<void> {
    await writeFile(this.configFile, (await readFile(this.configFile, 'utf8')) + '\n' + text + '\n');
  }

  /** The env of `docker run -e ...` for a boot that installs `archive` and serves the config. */
  bootEnv(archive: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return userEnv(this.root, {
      AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: '1',
      AUTO_INFER_LLAMA_CPP_PKG_PATH: archive,
      AUTO_INFER_LLAMA_CPP_ON_BOOT: '1',
      AUTO_INFER_LLAMA_CPP_CONFIG: this.configFile,
      ...extra,
    });
  }

  /** A shell's env (for status, install, ...): root and config only. */
  get env(): NodeJS.ProcessEnv {
    return userEnv(this.root, { AUTO_INFER_LLAMA_CPP_CONFIG: this.configFile });
  }

  boot(env: NodeJS.ProcessEnv, command?: string[], args: string[] = ['boot']): Daemon {
    const d = startDaemon(args, env, join(this.dir, `daemon-${this.daemons.length + 1}.log`), command);
    this.daemons.push(d);
    return d;
  }

  /** Stops every daemon (SIGTERM, bounded), then SIGKILLs any llama-server of this root that survived. */
  async cleanup(): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.stop(10_000)));
    for (let i = 0; i < 20; i++) {
      const left = llamaServersUnder(this.dir);
      if (left.length === 0) break;
      for (const pid of left) if (isAlive(pid)) killQuietly(pid, 'SIGKILL');
      await sleep(100);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
