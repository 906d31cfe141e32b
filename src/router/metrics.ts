/** Per-model Prometheus metrics of the router (its own registry, served on the router's /metrics). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 600];
const TTFB_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface RouterMetrics {
  registry: Registry;
  queueWait: Histogram<'model'>;
  loadTime: Histogram<'model'>;
  ttfb: Histogram<'model'>;
  evictions: Counter<'model' | 'reason'>;
  disconnects: Counter<'model'>;
  rejected: Counter<'model' | 'code'>;
  requests: Counter<'model' | 'status'>;
}

export interface ModelGauges {
  model: string;
  queued: number;
  inFlight: number;
  /** null until measured (the configured vram_mb is not exported: it is no observation). */
  measuredVramMb: number | null;
}

export function createRouterMetrics(depth: () => ModelGauges[]): RouterMetrics {
  const registry = new Registry();
  const p = 'infer_entry_router_';
  const snapshot = () => depth();
  new Gauge({
    name: `${p}queue_depth`,
    help: 'Requests waiting per model.',
    labelNames: ['model'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of snapshot()) this.set({ model: m.model }, m.queued);
    },
  });
  new Gauge({
    name: `${p}in_flight`,
    help: 'Requests being answered per model.',
    labelNames: ['model'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of snapshot()) this.set({ model: m.model }, m.inFlight);
    },
  });
  new Gauge({
    name: `${p}vram_measured_bytes`,
    help: 'GPU memory the model was measured to use after its last load (on the GPU holding most of it).',
    labelNames: ['model'],
    registers: [registry],
    collect() {
      this.reset();
      for (const m of snapshot()) if (m.measuredVramMb !== null) this.set({ model: m.model }, m.measuredVramMb * 1024 * 1024);
    },
  });
  return {
    registry,
    queueWait: new Histogram({ name: `${p}queue_wait_seconds`, help: 'Time from arrival to a free slot on a ready, warm model.', labelNames: ['model'], buckets: WAIT_BUCKETS, registers: [registry] }),
    loadTime: new Histogram({ name: `${p}load_seconds`, help: 'Start to ready and warm.', labelNames: ['model'], buckets: WAIT_BUCKETS, registers: [registry] }),
    ttfb: new Histogram({ name: `${p}ttfb_seconds`, help: 'Arrival to upstream response headers, queue included.', labelNames: ['model'], buckets: TTFB_BUCKETS, registers: [registry] }),
    evictions: new Counter({ name: `${p}evictions_total`, help: 'Unloads by reason (swap, ttl, unload).', labelNames: ['model', 'reason'], registers: [registry] }),
    disconnects: new Counter({ name: `${p}client_disconnects_total`, help: 'Clients gone while queued or mid-answer (upstream aborted).', labelNames: ['model'], registers: [registry] }),
    rejected: new Counter({ name: `${p}rejected_total`, help: 'Requests answered by the router itself with an error, by code.', labelNames: ['model', 'code'], registers: [registry] }),
    requests: new Counter({ name: `${p}requests_total`, help: 'Forwarded requests by upstream status.', labelNames: ['model', 'status'], registers: [registry] }),
  };
}
