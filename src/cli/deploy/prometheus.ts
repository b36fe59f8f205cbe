/**
 * `duplex prometheus`: a scrape config for the nodes and alert rules over the metrics they
 * expose (src/ops/metrics.ts), for a Prometheus of the reader's own. The thresholds are
 * flags, so the rules state the operator's bounds rather than ours.
 */
import { type CommandDoc, flag, flags, intFlag, type Values } from "../flags.ts";
import { bad, type HostPort, hostPort, render, type Rendered } from "./render.ts";

export const PROMETHEUS_FLAGS = flags(
  flag({
    name: "target", arg: "HOST:PORT", multiple: true, required: true, values: "host:port or [ipv6]:port, each once",
    doc: "a duplex node's HTTP address; Prometheus scrapes its /metrics",
  }),
  flag({
    name: "job", arg: "NAME", default: "duplex", values: "letters, digits and '_', not starting with a digit",
    doc: "the job label of these nodes; every rule is scoped to it, so two deployments can share one Prometheus",
  }),
  intFlag("scrape-interval", "S", 1, 300, 15, { doc: "seconds between scrapes, and between rule evaluations" }),
  intFlag("ack-p99-ms", "N", 1, 600_000, 500, {
    doc: "alert when the p99 from send to ack, over 5 minutes, stays above N ms for 5 minutes",
    guards: "slow sequencing (a loaded shard, a slow Redis) going unnoticed until sends time out",
  }),
  intFlag("refusals-per-s", "N", 0, 1_000_000, 5, {
    doc: "alert when refusals of one error code exceed N per second across the job, over 5 minutes, for 5 minutes",
    guards: "a rising tide of rate_limited, unauthorized or unavailable answers (a client bug, an attack, a backend outage)",
  }),
  intFlag("slow-closes", "N", 0, 1_000_000, 10, {
    doc: "alert when more than N connections were closed for not reading (1013) within 10 minutes",
    guards: "clients, or a network path, too slow for the traffic they are sent",
  }),
  flag({
    name: "out", arg: "DIR",
    doc: "write DIR/prometheus.yml, DIR/duplex.rules.yml (run prometheus --config.file=DIR/prometheus.yml) and a Grafana dashboard, DIR/duplex-dashboard.json; without it, print the rules",
  }),
);

export const PROMETHEUS_COMMAND: CommandDoc = {
  usage: "duplex prometheus --target HOST:PORT [--target ...] [options]",
  summary: "Prometheus scrape config and alert rules for duplex nodes, and a Grafana dashboard",
  flags: PROMETHEUS_FLAGS,
  notes: ["Check the output with promtool check config DIR/prometheus.yml (it checks the rules file too)."],
};

export type PrometheusFlags = Values<typeof PROMETHEUS_FLAGS>;

export const RULES_FILE = "duplex.rules.yml";
export const DASHBOARD_FILE = "duplex-dashboard.json";

export interface PrometheusConf {
  targets: HostPort[];
  job: string;
  scrapeIntervalS: number;
  ackP99S: number;
  refusalsPerS: number;
  slowCloses: number;
  rulesFile: string;
}

export function prometheusConf(v: PrometheusFlags): PrometheusConf {
  if (!v.target?.length) bad("--target", "is required at least once (host:port of a duplex node)");
  const targets = v.target.map((t) => hostPort("--target", t));
  const seen = new Set(targets.map((t) => `${t.host}:${t.port}`));
  if (seen.size < targets.length) bad("--target", "lists a node twice");
  const job = v.job ?? PROMETHEUS_FLAGS.job.default;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(job)) bad("--job", `must be letters, digits and '_', not starting with a digit, got "${job}"`);
  return {
    targets,
    job,
    scrapeIntervalS: PROMETHEUS_FLAGS["scrape-interval"].parse(v["scrape-interval"]),
    ackP99S: PROMETHEUS_FLAGS["ack-p99-ms"].parse(v["ack-p99-ms"]) / 1000,
    refusalsPerS: PROMETHEUS_FLAGS["refusals-per-s"].parse(v["refusals-per-s"]),
    slowCloses: PROMETHEUS_FLAGS["slow-closes"].parse(v["slow-closes"]),
    rulesFile: RULES_FILE,
  };
}

export function renderPrometheus(conf: PrometheusConf): Rendered {
  const rules = render("prometheus/duplex.rules.yml.eta", conf);
  const files = {
    "prometheus.yml": render("prometheus/prometheus.yml.eta", conf),
    [RULES_FILE]: rules,
    [DASHBOARD_FILE]: render(`prometheus/${DASHBOARD_FILE}.eta`, conf),
  };
  return { files, stdout: rules };
}
