import { describe, expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { TalliedHistogram } from "../../src/ops/histogram.ts";
import { IDLE_GAUGES, promMetrics } from "../../src/ops/metrics.ts";

const DEFAULT_LABELS = { node: "n1", runtime: "bun" };
const BOUNDS = [0.0001, 0.00025, 0.001, 0.0075, 0.5, 1, 5];
const HELP = "one stage's time";
/** Zero, below the first bound, on every bound, between bounds, above the last, negative. */
const VALUES = [0, 0.00005, ...BOUNDS, 0.0003, 0.1, 0.7, 5.0001, 42, -0.002, 1e-9, 0.1 + 0.2];
const STAGES = ["sequence", "ack", "shard_queue"];

const registry = () => {
  const r = new Registry();
  r.setDefaultLabels(DEFAULT_LABELS);
  return r;
};

/** A prom-client Histogram and a TalliedHistogram, each alone in a registry with the same default labels. */
function pair(label?: string) {
  const reference = registry();
  const tallied = registry();
  const config = { name: "duplex_test_seconds", help: HELP, buckets: BOUNDS };
  const theirs = new Histogram({ ...config, labelNames: label ? [label] : [], registers: [reference] });
  const ours = new TalliedHistogram({ ...config, label, registers: [tallied] });
  return { reference, tallied, theirs, ours };
}

describe("TalliedHistogram", () => {
  test("renders /metrics exactly as prom-client's Histogram does for the same labelled observations", async () => {
    const { reference, tallied, theirs, ours } = pair("stage");
    // Interleaved, so the series appear in the order of their first observation, not of their names.
    VALUES.forEach((v, i) => {
      for (const stage of STAGES.slice(i % STAGES.length)) {
        theirs.labels(stage).observe(v);
        ours.series(stage).observe(v);
      }
    });
    const text = await tallied.metrics();
    expect(text).toBe(await reference.metrics());
    expect(text).toContain('duplex_test_seconds_bucket{le="+Inf",node="n1",runtime="bun",stage="sequence"} ');
  });

  test("renders an unlabelled histogram as prom-client does: all zeros before the first observation, then the counts", async () => {
    const { reference, tallied, theirs, ours } = pair();
    expect(await tallied.metrics()).toBe(await reference.metrics());
    const one = ours.series();
    for (const v of VALUES) {
      theirs.observe(v);
      one.observe(v);
    }
    expect(await tallied.metrics()).toBe(await reference.metrics());
  });

  test("answers getMetricsAsJSON with prom-client's labels, values and sample names", async () => {
    const { reference, tallied, theirs, ours } = pair("stage");
    for (const stage of STAGES) {
      theirs.labels(stage).observe(0.001);
      ours.series(stage).observe(0.001);
    }
    const samples = async (r: Registry) =>
      (await r.getMetricsAsJSON()).map((m) => ({ ...m, values: m.values.map(({ labels, value, metricName }: { labels: object; value: number; metricName?: string }) => ({ labels, value, metricName })) }));
    expect(await samples(tallied)).toEqual(await samples(reference));
  });

  test("forgets every series on resetMetrics, as prom-client does, and shows them again in their new order", async () => {
    const { reference, tallied, theirs, ours } = pair("stage");
    for (const stage of STAGES) {
      theirs.labels(stage).observe(0.002);
      ours.series(stage).observe(0.002);
    }
    reference.resetMetrics();
    tallied.resetMetrics();
    expect(await tallied.metrics()).toBe(await reference.metrics());
    for (const stage of [...STAGES].reverse()) {
      theirs.labels(stage).observe(0.5);
      ours.series(stage).observe(0.5);
    }
    expect(await tallied.metrics()).toBe(await reference.metrics());
  });

  test("skips a NaN or infinite value without throwing, leaving sum and count as if it never came", async () => {
    const { reference, tallied, theirs, ours } = pair("stage");
    for (const v of [0.001, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.25]) {
      // prom-client throws here, which would fail the message whose duration it was.
      if (Number.isFinite(v)) theirs.labels("ack").observe(v);
      else expect(() => theirs.labels("ack").observe(v)).toThrow("Value is not a valid number");
      ours.series("ack").observe(v);
    }
    ours.series("sequence").observe(Number.NaN);
    const text = await tallied.metrics();
    expect(text).toBe(await reference.metrics());
    expect(text).toContain('duplex_test_seconds_count{node="n1",runtime="bun",stage="ack"} 2\n');
    expect(text).not.toContain('stage="sequence"');
  });
});

describe("promMetrics", () => {
  test("/metrics shows the ack, delivery and pipeline stage histograms with what the hub observed", async () => {
    const metrics = promMetrics(DEFAULT_LABELS, IDLE_GAUGES);
    metrics.ack(3);
    metrics.ack(3000);
    metrics.delivered(-1);
    metrics.stage("sequence", 0.2);
    metrics.stage("ack", Number.NaN);
    const text = await metrics.render();
    for (const name of ["duplex_ack_latency_seconds", "duplex_delivery_latency_seconds", "duplex_pipeline_stage_seconds"]) {
      expect(text).toContain(`# TYPE ${name} histogram\n`);
    }
    expect(text).toContain('duplex_ack_latency_seconds_bucket{le="0.005",node="n1",runtime="bun"} 1\n');
    expect(text).toContain('duplex_ack_latency_seconds_bucket{le="+Inf",node="n1",runtime="bun"} 2\n');
    expect(text).toContain('duplex_ack_latency_seconds_sum{node="n1",runtime="bun"} 3.003\n');
    expect(text).toContain('duplex_delivery_latency_seconds_bucket{le="0.0005",node="n1",runtime="bun"} 1\n');
    expect(text).toContain('duplex_pipeline_stage_seconds_bucket{le="0.00025",node="n1",runtime="bun",stage="sequence"} 1\n');
    expect(text).toContain('duplex_pipeline_stage_seconds_count{node="n1",runtime="bun",stage="sequence"} 1\n');
    expect(text).not.toContain('stage="ack"');
  });
});
