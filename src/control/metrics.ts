/**
 * Prometheus metrics of the daemon. Instance gauges are computed from the
 * supervisor's status at scrape time, so they can never drift from `status`;
 * only the probe latency histogram is fed by events (kept without prom-client,
 * which is loaded at the first scrape: a daemon nobody scrapes never pays for it).
 */
import { createProbeHistogram, type ProbeHistogram } from './probe-histogram.js';
import { INSTANCE_STATES, type InstanceStatus, type SupervisorApi } from '../supervisor/types.js';
import { VERSION } from '../version.js';
import { exitStatusForSignal } from '../supervisor/exit-status.js';

export interface InstallInfo {
  sha256: string;
  installedAtUnix: number;
  durationMs: number | null;
}

export interface MetricsOptions {
  supervisor: SupervisorApi;
  /** The last install (marker on disk, or this boot's install step); null when nothing is installed. */
  installInfo: () => Promise<InstallInfo | null>;
}

export interface DaemonMetrics {
  contentType: string;
  render(): Promise<string>;
  /** Unsubscribe from the supervisor. */
  close(): void;
}

export const PROBE_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** prom-client's exposition format (Registry.PROMETHEUS_CONTENT_TYPE), known before it is loaded. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function createDaemonMetrics(options: MetricsOptions): DaemonMetrics {
  const probes = createProbeHistogram(
    'infer_entry_probe_duration_seconds',
    'Latency of /health probes of each instance, failed probes included.',
    PROBE_BUCKETS_SECONDS,
  );
  const unsubscribe = options.supervisor.onProbe((instance, probe) => probes.observe(instance, probe.ok, probe.latencyMs / 1000));
  let built: Promise<() => Promise<string>> | null = null;
  return {
    contentType: METRICS_CONTENT_TYPE,
    async render() {
      built ??= import('prom-client').then((prom) => buildMetrics(prom, options, probes));
      return (await built)();
    },
    close: unsubscribe,
  };
}

function buildMetrics({ Counter, Gauge, Registry }: typeof import('prom-client'), options: MetricsOptions, probes: ProbeHistogram): () => Promise<string> {
  const { supervisor } = options;
  const registry = new Registry();
  const p = 'infer_entry_';

  // Per-instance series are rebuilt on each scrape so instances removed by a reload disappear.
  function perInstance(metric: { reset(): void }, write: (status: InstanceStatus) => void): void {
    metric.reset();
    for (const status of supervisor.list()) write(status);
  }

  new Gauge({
    name: `${p}build_info`,
    help: 'Always 1; labels carry the infer-entry and Node.js versions.',
    labelNames: ['version', 'node'],
    registers: [registry],
    collect() {
      this.set({ version: VERSION, node: process.version }, 1);
    },
  });

  new Gauge({
    name: `${p}instance_state`,
    help: '1 for the current state of each instance, 0 for the other states.',
    labelNames: ['instance', 'state'],
    registers: [registry],
    collect() {
      perInstance(this, (status) => {
        for (const state of INSTANCE_STATES) this.set({ instance: status.name, state }, status.state === state ? 1 : 0);
      });
    },
  });

  new Gauge({
    name: `${p}instance_ready`,
    help: '1 when the instance answers /health with 200, else 0.',
    labelNames: ['instance'],
    registers: [registry],
    collect() {
      perInstance(this, (status) => this.set({ instance: status.name }, status.state === 'ready' ? 1 : 0));
    },
  });

  new Gauge({
    name: `${p}instance_enabled`,
    help: '1 when the instance is enabled in the loaded config (started at boot and counted by /readyz).',
    labelNames: ['instance'],
    registers: [registry],
    collect() {
      perInstance(this, (status) => this.set({ instance: status.name }, status.enabled ? 1 : 0));
    },
  });

  new Counter({
    name: `${p}instance_restarts_total`,
    help: 'Restarts of the instance by the supervisor since it was loaded.',
    labelNames: ['instance'],
    registers: [registry],
    collect() {
      perInstance(this, (status) => this.inc({ instance: status.name }, status.restarts));
    },
  });

  new Gauge({
    name: `${p}instance_last_exit_code`,
    help: 'Exit status of the last process of the instance (128+N when killed by signal N); absent before the first exit.',
    labelNames: ['instance', 'class'],
    registers: [registry],
    collect() {
      perInstance(this, (status) => {
        const exit = status.lastExit;
        if (!exit) return;
        const value = exit.code ?? (exit.signal ? exitStatusForSignal(exit.signal) : -1);
        this.set({ instance: status.name, class: exit.class ?? 'none' }, value);
      });
    },
  });

  new Gauge({
    name: `${p}instance_failed`,
    help: '1 when the instance gave up (state failed); the class label says why.',
    labelNames: ['instance', 'class'],
    registers: [registry],
    collect() {
      perInstance(this, (status) => {
        if (status.state === 'failed') this.set({ instance: status.name, class: status.failureClass ?? 'crashed' }, 1);
      });
    },
  });

  // series of instances a reload removed disappear, like the per-instance gauges
  registry.registerMetric({
    ...probes,
    name: 'infer_entry_probe_duration_seconds',
    get: () => {
      probes.retain(new Set(supervisor.list().map((s) => s.name)));
      return probes.get();
    },
  } as unknown as Parameters<typeof registry.registerMetric>[0]);

  const install = new Gauge({
    name: `${p}install_info`,
    help: 'Always 1; the sha256 label identifies the installed llama.cpp archive.',
    labelNames: ['sha256'],
    registers: [registry],
  });
  const installTime = new Gauge({
    name: `${p}install_timestamp_seconds`,
    help: 'Unix time of the last llama.cpp install.',
    registers: [registry],
  });
  const installDuration = new Gauge({
    name: `${p}install_duration_seconds`,
    help: 'Duration of the last llama.cpp install (absent when unknown).',
    registers: [registry],
  });

  async function refreshInstall(): Promise<void> {
    install.reset();
    installTime.reset();
    installDuration.reset();
    let info: InstallInfo | null = null;
    try {
      info = await options.installInfo();
    } catch {
      info = null; // a missing or unreadable marker is "nothing installed", not a failed scrape
    }
    if (!info) return;
    install.set({ sha256: info.sha256 }, 1);
    installTime.set(info.installedAtUnix);
    if (info.durationMs !== null) installDuration.set(info.durationMs / 1000);
  }

  return async () => {
    await refreshInstall();
    return registry.metrics();
  };
}
