import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type PrometheusFlags, prometheusConf, renderPrometheus } from "../../../src/cli/deploy/prometheus.ts";
import { api, connect, type NodeProc, startNode } from "../../harness.ts";
import { cleanUpAfterAll, expectGolden, freePort, run, startProcess, writeOut } from "./support.ts";

cleanUpAfterAll();

const rendered = (flags: PrometheusFlags) => renderPrometheus(prometheusConf(flags));
const TWO = { target: ["10.0.0.11:8080", "[fd00::12]:8080"] };

test("the scrape config and the alert rules match their golden files", async () => {
  const { files } = rendered(TWO);
  await expectGolden("prometheus.yml", files["prometheus.yml"]);
  await expectGolden("prometheus-duplex.rules.yml", files["duplex.rules.yml"]);
  await expectGolden("prometheus-duplex-dashboard.json", files["duplex-dashboard.json"]);
});

interface Panel { id: number; title: string; gridPos: { x: number; y: number; w: number; h: number }; targets: { refId: string; expr: string }[] }
const dashboard = (flags: PrometheusFlags) => JSON.parse(rendered(flags).files["duplex-dashboard.json"]) as { uid: string; panels: Panel[] };

test("the Grafana dashboard is JSON with distinct panel ids and places, every query scoped to the job", () => {
  const d = dashboard({ ...TWO, job: "chat_eu" });
  expect(d.uid).toBe("duplex-chat-eu");
  expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
  expect(new Set(d.panels.map((p) => `${p.gridPos.x},${p.gridPos.y}`)).size).toBe(d.panels.length);
  for (const t of d.panels.flatMap((p) => p.targets)) expect(t.expr).toContain('{job="chat_eu"}');
});

test("the flags set the job, the scrape interval and each alert's bound", () => {
  const { files } = rendered({ ...TWO, job: "chat_eu", "scrape-interval": "5", "ack-p99-ms": "250", "refusals-per-s": "0", "slow-closes": "3" });
  expect(files["prometheus.yml"]).toContain("  - job_name: chat_eu\n");
  expect(files["prometheus.yml"]).toContain("  scrape_interval: 5s\n");
  const rules = files["duplex.rules.yml"];
  expect(rules).toContain('rate(duplex_ack_latency_seconds_bucket{job="chat_eu"}[5m]))) > 0.25\n');
  expect(rules).toContain('(rate(duplex_errors_total{job="chat_eu"}[5m])) > 0\n');
  expect(rules).toContain('(increase(duplex_slow_consumer_closes_total{job="chat_eu"}[10m])) > 3\n');
});

test("promtool accepts the scrape config and the rules", async () => {
  const dir = await writeOut(rendered(TWO));
  const config = await run("promtool", ["check", "config", join(dir, "prometheus.yml")]);
  expect(config.stdout + config.stderr).toContain("SUCCESS: 1 rule files found");
  expect(config.code).toBe(0);
  const rules = await run("promtool", ["check", "rules", join(dir, "duplex.rules.yml")]);
  expect(rules.stdout).toContain("SUCCESS: 11 rules found");
  expect(rules.code).toBe(0);
});

/** One alert's unit test for `promtool test rules`: series, when to look, and the alert expected then. */
interface AlertCase { alert: string; series: Record<string, string>; at: string; labels: Record<string, string>; summary: string }
const N1 = 'job="duplex",instance="a:1",node="n1",runtime="bun"';
const N2 = 'job="duplex",instance="b:1",node="n2",runtime="bun"';
const node1 = { job: "duplex", instance: "a:1", node: "n1", runtime: "bun" };
const ALERTS: AlertCase[] = [
  { alert: "DuplexNodeDown", series: { 'up{job="duplex",instance="a:1"}': "0x40" }, at: "2m", labels: { severity: "critical", job: "duplex", instance: "a:1" }, summary: "duplex node a:1 is not answering scrapes" },
  { alert: "DuplexNodeNotReady", series: { [`duplex_ready{${N1}}`]: "0x40" }, at: "3m", labels: { severity: "critical", ...node1 }, summary: "duplex node n1 has been not ready for 2 minutes" },
  {
    alert: "DuplexShardWithoutOwner",
    series: { [`duplex_shards{${N1}}`]: "16x40", [`duplex_shards_owned{${N1}}`]: "10x40", [`duplex_shards{${N2}}`]: "16x40", [`duplex_shards_owned{${N2}}`]: "4x40" },
    at: "2m", labels: { severity: "critical", job: "duplex" }, summary: "2 shards of duplex have no node sequencing them",
  },
  { alert: "DuplexBrokerDown", series: { [`duplex_broker_up{${N1}}`]: "0x40" }, at: "1m", labels: { severity: "critical", ...node1 }, summary: "duplex node n1 has lost its broker: its sends are answered unavailable" },
  { alert: "DuplexStoreDown", series: { [`duplex_store_up{${N1}}`]: "0x40" }, at: "1m", labels: { severity: "critical", ...node1 }, summary: "duplex node n1 has lost Redis: it refuses new connections and sends" },
  { alert: "DuplexBrokerReconnecting", series: { [`duplex_broker_reconnects_total{${N1}}`]: "0x20 1 2 3 4 5x40" }, at: "9m", labels: { severity: "warning", ...node1 }, summary: "duplex node n1 reconnected to its broker 5 times in 15 minutes" },
  { alert: "DuplexStoreReconnecting", series: { [`duplex_store_reconnects_total{${N1}}`]: "0x20 1 2 3 4 5x40" }, at: "9m", labels: { severity: "warning", ...node1 }, summary: "duplex node n1 reconnected to Redis 5 times in 15 minutes" },
  {
    alert: "DuplexSendToAckSlow",
    series: {
      [`duplex_ack_latency_seconds_bucket{${N1},le="0.5"}`]: "0+0x40", [`duplex_ack_latency_seconds_bucket{${N1},le="1"}`]: "0+10x40",
      [`duplex_ack_latency_seconds_bucket{${N1},le="+Inf"}`]: "0+10x40",
    },
    at: "10m", labels: { severity: "warning", job: "duplex" }, summary: "p99 from send to ack is 995ms, over the bound of 0.5s",
  },
  { alert: "DuplexSlowConsumerCloses", series: { [`duplex_slow_consumer_closes_total{${N1}}`]: "0+1x40" }, at: "10m", labels: { severity: "warning", job: "duplex" }, summary: "40 connections closed in 10 minutes for not reading what they were sent" },
  { alert: "DuplexRefusalsRising", series: { [`duplex_errors_total{${N1},code="unauthorized"}`]: "0+150x40" }, at: "10m", labels: { severity: "warning", job: "duplex", code: "unauthorized" }, summary: "10 refusals per second with code unauthorized" },
  {
    alert: "DuplexDeadLetters", series: { [`duplex_dead_letter_queue_messages{${N1}}`]: "0x4 3x40", [`duplex_dead_letter_queue_messages{${N2}}`]: "0x4 3x40" },
    at: "7m", labels: { severity: "warning", job: "duplex" }, summary: "3 messages wait in the dead-letter queue: list them with duplex dead-letters, replay or purge",
  },
];

test("promtool test rules: each alert fires on the data it is meant for, and stays quiet on a healthy node", async () => {
  const dir = await writeOut(rendered(TWO));
  const input = (series: Record<string, string>) => Object.entries(series).map(([s, values]) => ({ series: s, values }));
  const healthy = Object.fromEntries(ALERTS.flatMap((a) => Object.keys(a.series)).map((s) => [s, s.startsWith("up{") || /_(up|ready)\{/.test(s) ? "1x40" : /duplex_shards(_owned)?\{/.test(s) ? "8x40" : "0x40"]));
  const tests = {
    rule_files: ["duplex.rules.yml"],
    evaluation_interval: "15s",
    tests: [
      ...ALERTS.map((a) => ({
        interval: "15s", input_series: input(a.series),
        alert_rule_test: [{ eval_time: a.at, alertname: a.alert, exp_alerts: [{ exp_labels: a.labels, exp_annotations: { summary: a.summary } }] }],
      })),
      { interval: "15s", input_series: input(healthy), alert_rule_test: ALERTS.map((a) => ({ eval_time: "10m", alertname: a.alert, exp_alerts: [] })) },
    ],
  };
  // JSON is YAML: promtool reads it as is.
  await Bun.write(join(dir, "tests.yml"), JSON.stringify(tests, null, 2));
  const r = await run("promtool", ["test", "rules", join(dir, "tests.yml")]);
  expect(r.stdout + r.stderr).toContain("SUCCESS");
  expect(r.code).toBe(0);
  expect(ALERTS.map((a) => a.alert).sort()).toEqual([...(rendered(TWO).files["duplex.rules.yml"].matchAll(/alert: (\w+)/g))].map((m) => m[1]).sort());
});

describe("bad input is refused with one line naming the flag", () => {
  const cases: [string, PrometheusFlags, string][] = [
    ["no target", {}, "--target is required at least once"],
    ["a target without a port", { target: ["10.0.0.11"] }, '--target must be host:port (such as 127.0.0.1:8080 or [::1]:8080), got "10.0.0.11"'],
    ["the same target twice", { target: ["a.example:1", "a.example:1"] }, "--target lists a node twice"],
    ["a job name that is not a label value we can quote safely", { ...TWO, job: 'x"y' }, `--job must be letters, digits and '_', not starting with a digit, got "x"y"`],
    ["a p99 bound of 0", { ...TWO, "ack-p99-ms": "0" }, '--ack-p99-ms must be an integer from 1 to 600000, got "0"'],
  ];
  for (const [what, flags, message] of cases) {
    test(what, () => expect(() => rendered(flags)).toThrow(message));
  }

  test("through the CLI: exit code 1 and the message on stderr", async () => {
    const cli = await run("node_modules/.bin/bun", ["run", "src/cli.ts", "prometheus", "--target", "nope"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe('duplex prometheus: --target must be host:port (such as 127.0.0.1:8080 or [::1]:8080), got "nope"\n');
  });
});

interface Rule { name: string; query: string; health: string; type: string }
interface Alert { labels: { alertname: string; code?: string; instance?: string }; state: string }

describe("a real Prometheus loaded with the rendered config, scraping real nodes", () => {
  let nodes: NodeProc[];
  let prometheus: ReturnType<typeof startProcess>;
  let base: string;
  const query = async (q: string): Promise<unknown[]> => {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = await res.json() as { status: string; data: { result: unknown[] } };
    expect(body.status).toBe("success");
    return body.data.result;
  };
  const rules = async (): Promise<Rule[]> => {
    const body = await (await fetch(`${base}/api/v1/rules`)).json() as { data: { groups: { rules: Rule[] }[] } };
    return body.data.groups.flatMap((g) => g.rules);
  };
  const alerts = async (): Promise<Alert[]> =>
    ((await (await fetch(`${base}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } }).data.alerts;
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = await probe().catch(() => undefined);
      if (got !== undefined) return got;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${prometheus.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    nodes = await Promise.all([startNode(), startNode()]);
    // Zero refusals allowed, so one refusal makes DuplexRefusalsRising pending at once.
    const dir = await writeOut(rendered({ target: nodes.map((n) => `127.0.0.1:${n.port}`), "scrape-interval": "1", "refusals-per-s": "0" }));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    prometheus = startProcess("prometheus", [
      `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`, "--storage.tsdb.retention.time=1h",
    ]);
    await until("Prometheus ready", async () => (await fetch(`${base}/-/ready`)).ok || undefined);
    // A refusal, so the per-code counter has a series: a request without a token (401).
    expect((await api(nodes[0], null, "/api/conversations", { body: { members: ["x"] } })).status).toBe(401);
    await until("both nodes scraped", async () => (await query('up{job="duplex"} == 1')).length === 2 || undefined);
  }, 60_000);
  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all((nodes ?? []).map((n) => n.kill()));
  }, 20_000);

  test("loads every rule, and each evaluates with health ok", async () => {
    const loaded = await until("every rule evaluated", async () => {
      const r = await rules();
      return r.length === 11 && r.every((x) => x.health === "ok") ? r : undefined;
    });
    expect(loaded.map((r) => r.name)).toEqual([
      "DuplexNodeDown", "DuplexNodeNotReady", "DuplexShardWithoutOwner", "DuplexBrokerDown", "DuplexStoreDown",
      "DuplexBrokerReconnecting", "DuplexStoreReconnecting", "DuplexSendToAckSlow", "DuplexSlowConsumerCloses", "DuplexRefusalsRising", "DuplexDeadLetters",
    ]);
  }, 40_000);

  test("every metric a rule reads has series from the nodes", async () => {
    const names = new Set((await rules()).flatMap((r) => r.query.match(/\b(duplex_[a-z_]+|up)\b/g) ?? []));
    expect(names.size).toBeGreaterThanOrEqual(9);
    const empty: string[] = [];
    for (const name of names) if ((await query(`${name}{job="duplex"}`)).length === 0) empty.push(name);
    expect(empty).toEqual([]);
  }, 30_000);

  test("every query of the Grafana dashboard is valid PromQL and has data from the nodes", async () => {
    // Traffic, so the per-type and per-code series exist: a socket that pings and closes.
    const client = await connect(nodes[0], { user: "grafana-check" });
    client.send({ type: "ping" });
    await client.next("pong");
    client.close();
    const targets = dashboard({ target: ["a:1"] }).panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, ...t })));
    expect(targets.length).toBeGreaterThanOrEqual(20);
    for (const t of targets) {
      const expr = t.expr.replaceAll("$__rate_interval", "1m");
      await until(`data for "${t.panel}" ${t.refId}: ${expr}`, async () => ((await query(expr)).length > 0 ? true : undefined), 15_000);
    }
  }, 60_000);

  test("an alert fires from real data: a refusal, then a node that stops", async () => {
    // rate() needs the counter to grow between two scrapes: keep refusing until it fires.
    const refusals = await until("DuplexRefusalsRising pending", async () => {
      await api(nodes[0], null, "/api/conversations", { body: { members: ["x"] } });
      return (await alerts()).find((a) => a.labels.alertname === "DuplexRefusalsRising");
    });
    expect(refusals.labels.code).toBe("unauthorized");
    await nodes[1].kill();
    const down = await until("DuplexNodeDown pending", async () =>
      (await alerts()).find((a) => a.labels.alertname === "DuplexNodeDown"));
    expect(down.labels.instance).toBe(`127.0.0.1:${nodes[1].port}`);
    expect(down.state).toBe("pending");
  }, 60_000);
});
