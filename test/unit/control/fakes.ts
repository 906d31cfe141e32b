/** In-memory stand-ins for the supervisor, the config loader and the installer (control-plane unit tests). */
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { Writable } from 'node:stream';
import { ConfigError } from '../../../src/errors.js';
import { unknownInstanceError } from '../../../src/supervisor/supervisor.js';
import type { DaemonDeps } from '../../../src/boot/daemon.js';
import type { ConfigProblem, InstanceSpec, LoadedConfig } from '../../../src/config/types.js';
import type { InstanceStatus, ProbeInfo, ReloadResult, SupervisorApi, TransitionEvent } from '../../../src/supervisor/types.js';
import type { HandledSignal, SignalSource } from '../../../src/boot/signals.js';

export class FakeSupervisor implements SupervisorApi {
  statuses = new Map<string, InstanceStatus>();
  specs = new Map<string, InstanceSpec>();
  lines = new Map<string, string[]>();
  followers = new Map<string, Set<(line: string) => void>>();
  probeListeners = new Set<(instance: string, probe: ProbeInfo) => void>();
  stopAllCalls: { immediate?: boolean }[] = [];
  reloads: LoadedConfig[] = [];
  /** When set, stopAll waits for it (tests of the second signal). */
  stopAllGate: Promise<void> | undefined;

  onTransition(_listener: (event: TransitionEvent) => void): () => void {
    return () => undefined;
  }
  onProbe(listener: (instance: string, probe: ProbeInfo) => void): () => void {
    this.probeListeners.add(listener);
    return () => this.probeListeners.delete(listener);
  }
  emitProbe(instance: string, latencyMs: number): void {
    for (const l of this.probeListeners) l(instance, { at: Date.now(), ok: true, status: 200, latencyMs, error: null });
  }
  list(): InstanceStatus[] {
    return [...this.statuses.values()].map((s) => ({ ...s }));
  }
  get(name: string): InstanceStatus | undefined {
    const s = this.statuses.get(name);
    return s ? { ...s } : undefined;
  }
  private must(name: string): InstanceStatus {
    const s = this.statuses.get(name);
    if (!s) throw unknownInstanceError(name, [...this.statuses.keys()]);
    return s;
  }
  async start(name: string): Promise<InstanceStatus> {
    const s = this.must(name);
    s.state = 'ready';
    s.pid = 4242;
    return { ...s };
  }
  async stop(name: string): Promise<InstanceStatus> {
    const s = this.must(name);
    s.state = 'stopped';
    s.pid = null;
    return { ...s };
  }
  async restart(name: string): Promise<InstanceStatus> {
    const s = this.must(name);
    s.restarts += 1;
    return this.start(name);
  }
  logs(name: string, n: number): string[] {
    this.must(name);
    return (this.lines.get(name) ?? []).slice(-n);
  }
  followLogs(name: string, onLine: (line: string) => void): () => void {
    const set = this.followers.get(name) ?? new Set();
    this.followers.set(name, set);
    set.add(onLine);
    return () => set.delete(onLine);
  }
  emitLine(name: string, line: string): void {
    const buf = this.lines.get(name) ?? [];
    buf.push(line);
    this.lines.set(name, buf);
    for (const f of this.followers.get(name) ?? []) f(line);
  }
  async reload(config: LoadedConfig): Promise<ReloadResult> {
    this.reloads.push(config);
    const result: ReloadResult = { added: [], removed: [], changed: [], unchanged: [] };
    const next = new Set(config.instances.map((i) => i.name));
    for (const name of [...this.statuses.keys()]) {
      if (!next.has(name)) {
        this.statuses.delete(name);
        result.removed.push(name);
      }
    }
    for (const spec of config.instances) {
      const old = this.specs.get(spec.name);
      this.specs.set(spec.name, spec);
      if (old && old.fingerprint === spec.fingerprint && this.statuses.has(spec.name)) {
        result.unchanged.push(spec.name);
        continue;
      }
      (old && this.statuses.has(spec.name) ? result.changed : result.added).push(spec.name);
      const run = config.enable && spec.enabled;
      this.statuses.set(spec.name, {
        name: spec.name,
        state: run ? 'ready' : 'stopped',
        enabled: spec.enabled,
        pid: run ? 4242 : null,
        host: spec.host,
        port: spec.port,
        uptimeMs: run ? 1000 : null,
        restarts: 0,
        reason: null,
        failureClass: null,
        lastExit: null,
        lastProbe: null,
        argv: [spec.executable, ...spec.args],
      });
    }
    return result;
  }
  async waitSettled(names: string[]): Promise<InstanceStatus[]> {
    return names.map((n) => this.must(n));
  }
  async stopAll(options: { immediate?: boolean } = {}): Promise<void> {
    this.stopAllCalls.push(options);
    if (!options.immediate && this.stopAllGate) await this.stopAllGate;
    for (const s of this.statuses.values()) {
      s.state = 'stopped';
      s.pid = null;
    }
  }
}

export function spec(name: string, overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    name,
    enabled: true,
    executable: '/usr/bin/llama-server',
    args: ['--port', '8080'],
    env: {},
    envRemove: [],
    host: '127.0.0.1',
    probeHost: '127.0.0.1',
    port: 8080,
    model: undefined,
    secrets: [],
    logFile: undefined,
    supervision: undefined as never,
    fingerprint: `${name}-1`,
    ...overrides,
  };
}

/**
 * A config "file" format for the fake loader: JSON `{ enable, instances: [spec overrides...] }`;
 * `{ "invalid": ["message", ...] }` throws like the real loader's ConfigInvalidError.
 */
export function fakeDeps(supervisor: FakeSupervisor, extra: Partial<DaemonDeps> = {}): DaemonDeps {
  return {
    createSupervisor: () => supervisor,
    async loadConfig(file) {
      const data = JSON.parse(await fs.readFile(file, 'utf8')) as {
        enable?: boolean;
        invalid?: string[];
        instances?: (Partial<InstanceSpec> & { name: string })[];
      };
      if (data.invalid) {
        const problems: ConfigProblem[] = data.invalid.map((message, i) => ({
          file,
          line: i + 1,
          column: 1,
          key: 'instance.x',
          message,
          kind: 'schema',
        }));
        throw Object.assign(new ConfigError('E_CONFIG_INVALID', `${file} is invalid`), { problems });
      }
      return { file, enable: data.enable ?? true, instances: (data.instances ?? []).map((i) => spec(i.name, i)) };
    },
    formatProblem: (p) => `${p.file}:${p.line}:${p.column}: ${p.key}: ${p.message}`,
    installOnBoot: async () => null,
    ensureConvenienceLinks: async () => undefined,
    readInstalledMarker: async () => null,
    ...extra,
  };
}

export class FakeSignals extends EventEmitter implements SignalSource {
  send(signal: HandledSignal): void {
    this.emit(signal);
  }
}

/** A writable that collects text. */
export function sink(): Writable & { text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return Object.assign(stream, { text: () => chunks.join('') });
}
