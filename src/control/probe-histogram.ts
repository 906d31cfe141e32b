/**
 * The probe latency histogram, counted from the daemon's start without
 * prom-client (which is loaded at the first scrape): bucket counts, sum and
 * count per (instance, ok), handed to prom-client's registry in the shape its
 * own Histogram produces. Memory is one small record per label set.
 */
export interface ProbeHistogram {
  observe(instance: string, ok: boolean, seconds: number): void;
  /** Forget every series (instances removed by a reload disappear from the next scrape). */
  retain(instances: ReadonlySet<string>): void;
  /** prom-client's metric interface (name, help, type, values). */
  get(): Promise<{ name: string; help: string; type: 'histogram'; values: { labels: Record<string, string | number>; value: number; metricName: string }[]; aggregator: 'sum' }>;
}

export function createProbeHistogram(name: string, help: string, buckets: readonly number[]): ProbeHistogram {
  const series = new Map<string, { instance: string; ok: string; counts: number[]; sum: number; count: number }>();
  return {
    observe(instance, ok, seconds) {
      const key = `${instance}\0${ok}`;
      let s = series.get(key);
      if (!s) series.set(key, (s = { instance, ok: ok ? 'true' : 'false', counts: buckets.map(() => 0), sum: 0, count: 0 }));
      const i = buckets.findIndex((b) => seconds <= b);
      if (i !== -1) s.counts[i]!++;
      s.sum += seconds;
      s.count++;
    },
    retain(instances) {
      for (const [key, s] of series) if (!instances.has(s.instance)) series.delete(key);
    },
    async get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const s of series.values()) {
        const labels = { instance: s.instance, ok: s.ok };
        let cumulative = 0;
        buckets.forEach((le, i) => {
          cumulative += s.counts[i]!;
          values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { ...labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` });
        values.push({ labels, value: s.sum, metricName: `${name}_sum` });
        values.push({ labels, value: s.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
}
