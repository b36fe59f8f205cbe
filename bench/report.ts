/**
 * Turns a run's results into tables: `summary` for the terminal, `markdown` for
 * docs/benchmarks.md (the same tables with the machine, the method and the guarantees).
 */
import type { Percentiles } from "./load/hist.ts";
import type { Machine } from "./machine.ts";
import type { Plan } from "./plan.ts";
import type { IdleResult } from "./scenarios/idle.ts";
import type { LatencyResult } from "./scenarios/latency.ts";
import type { ProfileResult } from "./scenarios/profile.ts";
import type { RecoveryResult } from "./scenarios/recovery.ts";
import type { RoundTripResult } from "./scenarios/roundtrips.ts";
import type { ScaleResult } from "./scenarios/scale.ts";
import type { StageRow } from "./scenarios/stages.ts";
import type { ThroughputResult } from "./scenarios/throughput.ts";
import { cores, firstFailed, latencyOf, n as int, perConn, type Round, TAIL_RATE, x as formatRatio } from "./lookup.ts";
import { ratios, verdicts } from "./verdicts.ts";
import { GUARANTEES, METHOD } from "./report-text.ts";

export interface HopResult {
  perSec: number;
  /** The fixed rate the latency was measured at. */
  rate: number;
  latency: Percentiles;
  /** RabbitMQ's CPU (cores) while the paced messages ran; absent in older results. */
  rabbitmqCores?: number | null;
}

export interface Results {
  quick: boolean;
  plan: Plan;
  command: string;
  date: string;
  seconds: number;
  machine: Machine;
  idle: IdleResult[];
  latency: LatencyResult[];
  throughput: ThroughputResult[];
  hop: HopResult | null;
  roundTrips: RoundTripResult[];
  recovery: RecoveryResult[];
  /** Absent in results saved before the scale scenario existed. */
  scale?: ScaleResult | null;
  /** Rounds 2 and on of the repeated single-node measurements (Plan.rounds); absent in older results. */
  rounds?: Round[];
  /** One Bun node under the profiler at the conversations rate it sustained; absent in older results. */
  profile?: ProfileResult | null;
  skipped: string[];
  failures: string[];
}

const ms = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const per = (n: number | undefined) => (n === undefined ? "–" : n.toFixed(2));

function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return "_not measured in this run_\n";
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n") + "\n";
}

function tables(r: Results): string {
  const parts: string[] = [];
  parts.push("### 1–2. Idle connections, memory and connect rate\n");
  parts.push(table(
    ["system", "idle connections held", "RSS before → a third → all (MiB)", "memory / connection past the first third (KiB)", "whole growth / connections (KiB)", "connects/s", "handshake p50 / p99 (ms)", "registered in Redis /s"],
    r.idle.map((i) => [i.label, int(i.conns), [i.rssBefore, i.rssMid, i.rssAfter].map((b) => (b === undefined ? "–" : mb(b))).join(" → "), i.marginalBytesPerConn === undefined ? "–" : kb(i.marginalBytesPerConn), kb(i.bytesPerConn), int(i.connectRate), `${ms(i.handshake.p50)} / ${ms(i.handshake.p99)}`, i.registeredRate ? int(i.registeredRate) : "–"]),
  ));
  parts.push("\n### 3. End-to-end latency, one sender to another user's device (open loop)\n");
  parts.push(table(
    ["system", "rate (msg/s)", "delivered", "p50 (ms)", "p99 (ms)", "p99.9 (ms)", "max (ms)", "ack p99 (ms)", "client lag p99 (ms)"],
    r.latency.map((l) => [l.label, int(l.rate), `${int(l.received)} / ${int(l.sent)}`, ms(l.e2e.p50), ms(l.e2e.p99), ms(l.e2e.p999), ms(l.e2e.max), ms(l.ack.p99), ms(l.lagP99)]),
  ));
  parts.push("\n### Where the time goes: one message's stages on the cluster (p50 / p99 in ms, messages observed)\n");
  parts.push(stagesTable(r));
  parts.push(`\n### 4. Sustained delivery (highest step with ≥ ${r.plan.passDelivered * 100}% delivered, every send acked, p99 ≤ ${r.plan.passP99Ms} ms)\n`);
  parts.push(table(
    ["system", "shape", "sends/s", "delivered msgs/s", "p50 (ms)", "p99 (ms)", "CPU, server / whole machine (cores)", "next step"],
    r.throughput.map((t) => {
      const fail = firstFailed(t);
      const next = fail
        ? `${int(fail.rate)}/s: ${((100 * fail.received) / Math.max(1, fail.expected)).toFixed(0)}% delivered, ${fail.sent - fail.acked} unacked, p99 ${ms(fail.e2e.p99)} ms`
        : "ladder top reached (not saturated)";
      const shape = t.shape === "group" ? `group, 1 → ${t.fanout}` : `${r.plan.convs.count} conversations, 1 → ${t.fanout}`;
      return t.best
        ? [t.label, shape, int(t.best.rate), int(t.best.deliveredPerSec), ms(t.best.e2e.p50), ms(t.best.e2e.p99), `${cores(t.best.serverCores)} / ${cores(t.best.machineCores)}`, next]
        : [t.label, shape, "none sustained", "–", "–", "–", "–", next];
    }),
  ));
  const prof = r.profile;
  const kept = prof?.sustained === undefined ? "" : prof.sustained ? ", sustained under the profiler" : ", not sustained under the profiler";
  parts.push(`\n### Profile: one Bun node, ${r.plan.convs.count} conversations${prof ? ` at ${int(prof.rate)} sends/s for ${prof.stepMs / 1000} s${kept}` : ""} (top entries by self samples)\n`);
  parts.push(table(["self (% of samples)", "function", "where"], prof ? prof.top.map((e) => [e.selfPct.toFixed(1), `\`${e.fn}\``, e.where]) : []));
  parts.push("\n### Ceiling: one raw RabbitMQ hop (amqplib, quorum queue, confirms)\n");
  parts.push(table(
    ["messages/s (publisher saturating)", "latency at", "p50 (ms)", "p99 (ms)", "p99.9 (ms)", "RabbitMQ CPU at that rate (cores)"],
    r.hop ? [[int(r.hop.perSec), `${int(r.hop.rate)}/s`, ms(r.hop.latency.p50), ms(r.hop.latency.p99), ms(r.hop.latency.p999), cores(r.hop.rabbitmqCores)]] : [],
  ));
  parts.push("\n### 5. Work per message on a cluster of three (counted by proxies, idle background subtracted)\n");
  parts.push(table(
    ["system", "rate (msg/s)", "messages", "Redis commands", "Redis round trips", "AMQP publishes", "AMQP deliveries", "most frequent Redis commands", "idle, per second: Redis commands / AMQP publishes / AMQP deliveries"],
    r.roundTrips.map((t) => [
      t.label, int(t.rate), int(t.messages), per(t.perMessage.redisCommands), per(t.perMessage.redisRoundTrips), per(t.perMessage.amqpPublishes), per(t.perMessage.amqpDeliveries), t.topCommands.join(", "),
      // Results saved before the idle column existed have none.
      t.idlePerSecond ? [t.idlePerSecond.redisCommands, t.idlePerSecond.amqpPublishes, t.idlePerSecond.amqpDeliveries].map(per).join(" / ") : "–",
    ]),
  ));
  parts.push("\n### 6. SIGKILL of a shard owner\n");
  parts.push(table(
    ["system", "shards lost", "sends", "acked", "delivered", "failed", "ack p99 before (ms)", "worst wait, lost shards (ms)", "worst wait, other shards (ms)"],
    r.recovery.map((f) => [f.label, `${f.affectedShards} of ${f.shards}`, int(f.sends), int(f.acked), int(f.delivered), int(f.failed), ms(f.normalP99), ms(f.recoveryMs), ms(f.othersWorstMs)]),
  ));
  parts.push("\n### 7. Scale: idle connections on a cluster of three (Redis + RabbitMQ)\n");
  const sc = r.scale;
  parts.push(table(
    ["system", "connections held (all in Redis)", "RSS per node (MiB)", "memory / connection (KiB)", "connects/s until registered", "Redis bytes / session", "a node's death noticed after (s)"],
    sc ? [[sc.label, int(sc.conns), sc.rssPerNode.map(mb).join(", "), kb(sc.bytesPerConn), sc.registeredRate ? int(sc.registeredRate) : "–", int(sc.redisBytesPerSession),
      sc.deathNoticedMs === null ? `not within ${(sc.deathBoundMs / 1000).toFixed(0)}` : (sc.deathNoticedMs / 1000).toFixed(1)]] : [],
  ));
  if (r.rounds?.length) parts.push(`\n### Repeated: the close single-node measurements, round by round\n`, roundsTable(r));
  parts.push("\n### Ratios\n");
  parts.push(table(["ratio", "value", "better when"], ratios(r).map((x) => [x.what, formatRatio(x.value), x.better])));
  parts.push("\n### Targets (reported, not asserted)\n");
  parts.push(table(["target", "measured", "met"], verdicts(r).map((v) => [v.target, v.measured, v.met === null ? "n/a" : v.met ? "yes" : "**no**"])));
  if (r.skipped.length > 0 || r.failures.length > 0) {
    parts.push("\n" + [...r.skipped.map((s) => `- skipped: ${s}`), ...r.failures.map((f) => `- FAILED: ${f}`)].join("\n") + "\n");
  }
  return parts.join("");
}

/** The systems the rounds repeat (bench/run.ts repeatRound), by id. */
const REPEATED_MEMORY = { "duplex-bun": "duplex (bun)", bare: "bare Bun.serve", "duplex-node": "duplex (node)", "bare-ws": "bare ws (node)", socketio: "Socket.IO (node)" };
const REPEATED_TAIL = { "duplex-bun": "duplex (bun)", bare: "bare Bun.serve" };

/** Each round's figures behind the targets that take a median of rounds (verdicts.ts). */
function roundsTable(r: Results): string {
  return table(
    ["round", ...Object.values(REPEATED_MEMORY).map((l) => `${l}: KiB / connection past the first third`), ...Object.values(REPEATED_TAIL).map((l) => `${l}: p99 at ${int(TAIL_RATE)}/s (ms)`)],
    [r, ...r.rounds!].map((round, i) => [
      String(i + 1),
      ...Object.keys(REPEATED_MEMORY).map((id) => { const m = perConn(round, id); return m === undefined ? "–" : kb(m); }),
      ...Object.keys(REPEATED_TAIL).map((id) => { const l = latencyOf(round, id, TAIL_RATE); return l ? ms(l.e2e.p99) : "–"; }),
    ]),
  );
}

/**
 * One column per cluster latency step: each stage's p50 / p99 from the nodes' histograms
 * (bench/scenarios/stages.ts; estimated within buckets, so read them to a bucket's width).
 */
function stagesTable(r: Results): string {
  const steps = r.latency.filter((l) => l.stages);
  const cell = (row: StageRow | undefined) =>
    !row || row.p50 === null || row.p99 === null ? "–" : `${ms(row.p50)} / ${ms(row.p99)} (${int(row.count)})`;
  // What the step cost the machine: a stage that waits on a busy CPU shows it here.
  const cpu: [string, (l: (typeof steps)[number]) => string][] = [
    ["CPU, the three nodes (cores)", (l) => cores(l.cpu?.servers)],
    ["CPU, RabbitMQ (cores)", (l) => cores(l.cpu?.rabbitmq)],
    ["CPU, Redis (cores)", (l) => cores(l.cpu?.redis)],
    [`CPU, whole machine (cores of ${r.machine.cpus})`, (l) => cores(l.cpu?.machine)],
  ];
  return table(
    ["stage", ...steps.map((l) => `${l.label.replace(/ \(.*/, "")}${l.id === "duplex-cluster" ? "" : ` ${l.id.replace("duplex-cluster-", "")}`}, ${int(l.rate)}/s`)],
    [
      ...(steps[0]?.stages ?? []).map((s) => [s.stage, ...steps.map((l) => cell(l.stages!.find((x) => x.stage === s.stage)))]),
      ...(steps.some((l) => l.cpu) ? cpu.map(([name, value]) => [name, ...steps.map(value)]) : []),
    ],
  );
}

export function summary(r: Results): string {
  return `\n${r.command} — ${r.seconds.toFixed(0)} s\n\n${tables(r)}`;
}

export function markdown(r: Results): string {
  const m = r.machine;
  const missed = verdicts(r).filter((v) => v.met === false);
  return `# Benchmarks

Generated by \`${r.command}\` (bench/run.ts) on ${r.date.slice(0, 10)}; the run took ${r.seconds.toFixed(0)} s.
Rerun it on a fresh clone with \`npm ci && ${r.command}\` (Redis and RabbitMQ on their default local ports).

**Measured on a shared ${m.cpus}-core machine** while other engineers ran their test suites on it
(1-minute load average at the start: ${m.loadAtStart.toFixed(2)}). Servers, load clients, Redis and
RabbitMQ all shared those cores, so absolute numbers are noisy and low; the ratios between systems
measured in the same run, one after another on the same machine, are the numbers to read.

## Machine

| | |
| --- | --- |
| CPU | ${m.cpus} × ${m.cpuModel} |
| memory | ${m.memoryGiB} GiB |
| kernel | Linux ${m.kernel} |
| descriptors per process | ${m.fdLimit} |
${m.revision ? `| duplex revision | ${m.revision} |\n` : ""}${Object.entries(m.versions).map(([k, v]) => `| ${k.replace("_", " ")} | ${v} |`).join("\n")}

## Results

${tables(r)}
## Where duplex falls short, and why

${missed.length === 0 ? "Every target measured in this run was met.\n" : missed.map((v) => `- **${v.target}** — measured ${v.measured}. ${v.why}`).join("\n") + "\n"}
${METHOD(r.plan)}
${GUARANTEES}`;
}
