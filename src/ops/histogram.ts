/**
 * A Prometheus histogram whose observation is a bucket scan and a few array writes.
 *
 * prom-client's Histogram.observe checks the labels object key by key, hashes it, looks the
 * bound up by property name and allocates a closure on every call: a CPU profile of one Bun
 * node at 17,000 sends/s spent ~9% of all its samples there, with the hub observing up to
 * three histograms per message. prom-client has no way to add a batch of observations to its
 * Histogram, so this one keeps its own tallies and registers itself on prom-client registries,
 * answering them in the shape Histogram does: /metrics renders the same lines, labels in the
 * same order (test/ops/histogram.test.ts holds the two side by side).
 */
import type { Registry } from "prom-client";

type Labels = Record<string, string | number>;

/** One exposition sample as prom-client's Histogram hands it to a registry. */
interface Sample {
  labels: Labels;
  /**
   * The series' own labels, kept apart from `le` so the registry writes them after the
   * default labels, where prom-client's Histogram has them.
   */
  sharedLabels: Labels;
  value: number;
  metricName: string;
}

export interface TalliedHistogramConfig {
  name: string;
  help: string;
  /** Upper bounds, ascending; `+Inf` is implied. */
  buckets: readonly number[];
  /** At most one label: the hub's histograms need no more. */
  label?: string;
  registers: Registry[];
}

/** The tallies of one label value, bumped on the hot path. */
export class Series {
  /** Per bucket, not cumulative; the last slot holds what lies above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  /** In the owner's list of series to render: prom-client shows a series from its first observation. */
  listed = false;

  constructor(private readonly owner: TalliedHistogram, readonly labels: Labels) {
    this.counts = new Float64Array(owner.bounds.length + 1);
  }

  /**
   * A NaN or infinite value is dropped, counted nowhere: prom-client would throw, failing
   * the message whose duration it is, and a NaN added to the sum would stay there for good.
   */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.owner.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    if (!this.listed) this.owner.show(this);
  }
}

export class TalliedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly labelNames: string[];
  readonly bounds: readonly number[];
  private readonly label: string | undefined;
  private readonly byValue = new Map<string, Series>();
  /** In order of first observation, which is the order prom-client renders them in. */
  private readonly shown: Series[] = [];

  constructor(config: TalliedHistogramConfig) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = config.buckets;
    this.label = config.label;
    this.labelNames = config.label === undefined ? [] : [config.label];
    // prom-client shows an unlabelled histogram, all zeros, before its first observation.
    if (this.label === undefined) this.show(this.series());
    for (const registry of config.registers) registry.registerMetric(this as never);
  }

  /** The tallies for one value of the label; a histogram without a label has one series, under "". */
  series(value = ""): Series {
    let series = this.byValue.get(value);
    if (!series) {
      series = new Series(this, this.label === undefined ? {} : { [this.label]: value });
      this.byValue.set(value, series);
    }
    return series;
  }

  show(series: Series): void {
    series.listed = true;
    this.shown.push(series);
  }

  /** What Registry.resetMetrics calls: prom-client's Histogram forgets every series. */
  reset(): void {
    for (const series of this.shown) {
      series.counts.fill(0);
      series.sum = 0;
      series.listed = false;
    }
    this.shown.length = 0;
  }

  /** What Registry.metrics reads: cumulative buckets up to `+Inf`, then sum and count. */
  getForPromString() {
    const bucket = `${this.name}_bucket`;
    const values: Sample[] = [];
    for (const { counts, sum, labels: sharedLabels } of this.shown) {
      let below = 0;
      this.bounds.forEach((le, i) => {
        below += counts[i];
        values.push({ labels: { le }, sharedLabels, value: below, metricName: bucket });
      });
      const count = below + counts[this.bounds.length];
      values.push(
        { labels: { le: "+Inf" }, sharedLabels, value: count, metricName: bucket },
        { labels: {}, sharedLabels, value: sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels, value: count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** What Registry.getMetricsAsJSON reads: each sample with its series' labels folded in. */
  get() {
    const metric = this.getForPromString();
    const values = metric.values.map(({ labels, sharedLabels, value, metricName }) => ({ labels: { ...labels, ...sharedLabels }, value, metricName }));
    return { ...metric, values };
  }
}
