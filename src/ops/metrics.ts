/**
 * Prometheus metrics for one node, through prom-client. Label children are resolved once
 * per label value and kept, so the hot path only increments.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { ErrorCode } from "../core/errors.ts";
import type { HubMetrics } from "../core/metrics.ts";
import { TalliedHistogram } from "./histogram.ts";

export interface NodeGauges {
  connections(): number;
  /** What /readyz answers: store and broker connected, not draining. */
  ready(): boolean;
  /** Shards that need an owner; against duplex_shards_owned summed over the cluster, shows a shard nobody sequences. */
  shards(): number;
  ownedShards(): number;
  brokerUp(): boolean;
  storeUp(): boolean;
  brokerReconnects(): number;
  storeReconnects(): number;
  /** Messages in the dead-letter queue (Broker.deadLetters); absent where none is kept. */
  deadLetters?(): Promise<number | null>;
}

export interface PromMetrics extends HubMetrics {
  registry: Registry;
  /** The text format, for GET /metrics. */
  render(): Promise<string>;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Finer at the bottom: most stages of a message take well under a millisecond on a quiet cluster. */
const STAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function promMetrics(labels: { node: string; runtime: string }, gauges: NodeGauges): PromMetrics {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  const registers = [registry];
  const cached = <T>(make: (key: string) => T) => {
    const children = new Map<string, T>();
    return (key: string) => {
      let child = children.get(key);
      if (!child) children.set(key, (child = make(key)));
      return child;
    };
  };
  new Gauge({ name: "duplex_connections", help: "Open WebSocket connections (one session each)", registers, collect() { this.set(gauges.connections()); } });
  new Gauge({ name: "duplex_ready", help: "1 while /readyz answers 200: store and broker connected, not draining", registers, collect() { this.set(gauges.ready() ? 1 : 0); } });
  new Gauge({ name: "duplex_shards", help: "Shards that need an owner: DUPLEX_SHARDS, or 0 with the Redis broker, which has none", registers, collect() { this.set(gauges.shards()); } });
  new Gauge({ name: "duplex_shards_owned", help: "Shards this node sequences", registers, collect() { this.set(gauges.ownedShards()); } });
  new Gauge({ name: "duplex_broker_up", help: "1 while the broker is connected", registers, collect() { this.set(gauges.brokerUp() ? 1 : 0); } });
  new Gauge({ name: "duplex_store_up", help: "1 while the store is connected", registers, collect() { this.set(gauges.storeUp() ? 1 : 0); } });
  new Gauge({
    name: "duplex_dead_letter_queue_messages", registers,
    help: "Messages waiting in the namespace's dead-letter queue: 0 without RabbitMQ, the last count read while it is away",
    async collect() {
      const n = gauges.deadLetters ? await gauges.deadLetters() : 0;
      if (n !== null) this.set(n);
    },
  });
  /**
   * A labelled counter counted once per frame: prom-client checks and hashes the labels on
   * every inc, a few tenths of a microsecond several times per message, so the counts
   * gather in plain numbers and reach prom-client when /metrics is read.
   */
  const tallied = (name: string, help: string, label: string) => {
    const counts = new Map<string, number>();
    new Counter({
      name, help, labelNames: [label], registers,
      collect() {
        for (const [value, n] of counts) this.labels(value).inc(n);
        counts.clear();
      },
    });
    return (value: string, n: number) => counts.set(value, (counts.get(value) ?? 0) + n);
  };
  // Counted by the connections themselves; read at scrape time.
  const total = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
  total("duplex_broker_reconnects_total", "Times the broker connection came back after it was lost", gauges.brokerReconnects);
  total("duplex_store_reconnects_total", "Times the store connection came back after it was lost", gauges.storeReconnects);
  const connects = new Counter({ name: "duplex_connects_total", help: "Accepted WebSocket upgrades", registers });
  const disconnects = new Counter({ name: "duplex_disconnects_total", help: "Closed connections by close code", labelNames: ["code"], registers });
  const framesIn = tallied("duplex_frames_in_total", "Client frames by type", "type");
  const framesOut = tallied("duplex_frames_out_total", "Server frames by type", "type");
  const errors = new Counter({ name: "duplex_errors_total", help: "Refusals by error code: error frames and HTTP error answers", labelNames: ["code"], registers });
  const sequenced = new Counter({ name: "duplex_messages_sequenced_total", help: "Messages stored by this node's shards", registers });
  const slow = new Counter({ name: "duplex_slow_consumer_closes_total", help: "Connections closed for not reading", registers });
  const unencodable = new Counter({ name: "duplex_unencodable_skipped_total", help: "Frames and stored messages skipped because they could not be encoded (nested past the runtime's stack)", registers });
  const deadLettered = new Counter({ name: "duplex_messages_dead_lettered_total", help: "Messages this node refused for good and set aside (poison messages; RabbitMQ: moved to the dead-letter queue)", registers });
  // Observed on every message, where prom-client's Histogram cost ~9% of a busy node's CPU (./histogram.ts).
  const ack = new TalliedHistogram({ name: "duplex_ack_latency_seconds", help: "send received to ack written", buckets: LATENCY_BUCKETS, registers }).series();
  const delivery = new TalliedHistogram({ name: "duplex_delivery_latency_seconds", help: "Sequenced to written to a local socket", buckets: LATENCY_BUCKETS, registers }).series();
  const stages = new TalliedHistogram({
    name: "duplex_pipeline_stage_seconds", label: "stage", buckets: STAGE_BUCKETS, registers,
    help: "One message's time in one stage of the cluster pipeline (RabbitMQ broker): ingress_confirm, shard_queue, sequence, fanout_confirm, fanout_delivery, ack (docs/09-order.md)",
  });

  const closeCode = cached((code) => disconnects.labels(code));
  const errCode = cached((c) => errors.labels(c));
  return {
    registry,
    render: () => registry.metrics(),
    connected: () => connects.inc(),
    disconnected: (code: number) => closeCode(String(code)).inc(),
    frameIn: (type: string) => framesIn(type, 1),
    frameOut: (type: string, count = 1) => framesOut(type, count),
    refused: (code: ErrorCode) => errCode(code).inc(),
    sequenced: (count: number) => { if (count > 0) sequenced.inc(count); },
    ack: (ms: number) => ack.observe(ms / 1000),
    delivered: (ms: number) => delivery.observe(Math.max(0, ms) / 1000),
    stage: (stage, ms) => stages.series(stage).observe(Math.max(0, ms) / 1000),
    slowClosed: () => slow.inc(),
    unencodable: () => unencodable.inc(),
    deadLettered: () => deadLettered.inc(),
  };
}

export interface MetricDoc {
  name: string;
  type: string;
  /** Its own labels; every metric also carries `node` and `runtime`. */
  labels: string[];
  help: string;
}

const none = () => 0;
/** Gauges of a node that has nothing: for reading what a registry holds without a node behind it. */
export const IDLE_GAUGES: NodeGauges = {
  connections: none, ready: () => false, shards: none, ownedShards: none, brokerUp: () => false, storeUp: () => false,
  brokerReconnects: none, storeReconnects: none,
};

/** Every metric a node exposes, read from a registry built exactly as a node builds it. */
export function metricCatalogue(): MetricDoc[] {
  const { registry } = promMetrics({ node: "", runtime: "" }, IDLE_GAUGES);
  return registry.getMetricsAsArray().map((m) => {
    const own = (m as typeof m & { labelNames: string[] }).labelNames;
    // Typed as a numeric enum, but at run time the name Prometheus uses: "counter", "gauge", "histogram".
    const type = String(m.type);
    return { name: m.name, type, labels: type === "histogram" ? [...own, "le"] : own, help: m.help };
  });
}
