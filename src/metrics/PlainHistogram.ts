import type { Registry } from 'prom-client';

/** One labelled series: plain numbers, added to per observation. */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** A value in prom-client's shape (what Registry formats and AggregatorRegistry sums). */
interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
}

/**
 * A histogram exposed exactly as prom-client's Histogram exposes it (same text, same JSON for the cluster
 * aggregator), recorded without prom-client's per-observation work (label validation and hashing, an
 * object per label set lookup, a linear bucket search through an object): a caller binds a series once
 * (`series(labels)`) and observes on it with a few additions. test/unit/PlainHistogram.test.ts compares
 * its exposition with prom-client's on random observations.
 */
export class PlainHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly upperBounds: readonly number[],
    registers: readonly Registry[],
  ) {
    // Registry accepts any object with name, help, type, get() and reset() (prom-client's Metric shape).
    for (const registry of registers) registry.registerMetric(this as never);
  }

  /** The series of these label values (in labelNames order), made on first use. */
  series(...values: readonly string[]): (seconds: number) => void {
    const key = values.join('\u0000');
    let series = this.all.get(key);
    if (series === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] ?? ''));
      series = { labels, buckets: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 };
      this.all.set(key, series);
    }
    const bound = series;
    const bounds = this.upperBounds;
    return (value: number): void => {
      if (!Number.isFinite(value)) return;
      let i = 0;
      for (const upper of bounds) {
        if (value <= upper) break;
        i++;
      }
      bound.buckets[i] = (bound.buckets[i] ?? 0) + 1;
      bound.sum += value;
      bound.count++;
    };
  }

  /** prom-client's getForPromString: what Registry formats. */
  getForPromString(): { name: string; help: string; type: string; values: ExportedValue[]; aggregator: string } {
    const values: ExportedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.all.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += series.buckets[i] ?? 0;
        values.push({
          labels: { le },
          sharedLabels: series.labels,
          value: cumulative,
          metricName: bucketName,
          exemplar: null,
        });
      });
      values.push(
        {
          labels: { le: '+Inf' },
          sharedLabels: series.labels,
          value: series.count,
          metricName: bucketName,
          exemplar: null,
        },
        { labels: {}, sharedLabels: series.labels, value: series.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: series.labels, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** prom-client's get: labels and shared labels in one object (the cluster aggregator reads these). */
  get(): { name: string; help: string; type: string; values: ExportedValue[]; aggregator: string } {
    const data = this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return data;
  }

  reset(): void {
    for (const series of this.all.values()) {
      series.buckets.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
