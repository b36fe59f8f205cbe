/**
 * The reasons the report gives beside a missed target, each from the run's own numbers:
 * a sentence is printed only where the numbers it states were measured.
 */
import { bestOf, cores, firstFailed, latencyOf, ms, ms2, n, perSend, type Round, saturated, stepAtTheirP99, TAIL_RATE } from "./lookup.ts";
import { resolution } from "./plan.ts";
import type { Results } from "./report.ts";
import type { LatencyResult } from "./scenarios/latency.ts";
import type { GcUse } from "./systems/gc.ts";
import type { Shape } from "./scenarios/throughput.ts";

/** What the step cost the machine, beside what the peer's step at the same rate cost it. */
export function cpuNote(r: Results, ours: LatencyResult | undefined, theirs: LatencyResult | undefined): string {
  const c = ours?.cpu;
  if (!c) return "";
  const cpus = r.machine.cpus;
  const busy = c.machine >= 0.9 * cpus ? "The machine had no CPU to spare" : "The machine was not short of CPU";
  const peer = theirs?.cpu ? `; Socket.IO ×3 at the same rate kept it ${cores(theirs.cpu.machine)} cores busy` : "";
  const hop = r.hop?.rabbitmqCores != null ? ` One raw hop alone kept RabbitMQ ${cores(r.hop.rabbitmqCores)} cores busy at ${r.hop.rate} msg/s in this run; duplex's path is two such hops and the fanout (docs/09-order.md, what the pipeline costs).` : "";
  return ` ${busy}: ${cores(c.machine)} of its ${cpus} cores were busy during the step — RabbitMQ ${cores(c.rabbitmq)}, the three nodes ${cores(c.servers)}, Redis ${cores(c.redis)}, the rest the load processes and the kernel${peer}.${hop}`;
}

/**
 * The tail's step seen from inside each server (round 1): how long its event-loop thread
 * ran and how long it was ready but waited for a core, and what its other threads ran. A
 * message that arrives while the thread waits or works on others waits too.
 */
export function threadNote(ours: LatencyResult | undefined, floor: LatencyResult | undefined): string {
  if (!ours?.cpu?.mainThread || !floor?.cpu?.mainThread) return "";
  const ms = (cores: number) => `${Math.round(cores * 1000)} ms`;
  const part = ({ rate, cpu }: LatencyResult) => {
    const { running, waiting } = cpu!.mainThread!;
    return `ran ${ms(running)} of each second (${Math.round((running * 1e6) / rate)} µs a message) and waited ${ms(waiting)} for a core, while its other threads (JIT compilers, the collector's helpers) ran ${ms(Math.max(0, cpu!.servers - running))}`;
  };
  return ` In round 1's step duplex's event-loop thread ${part(ours)}; the floor's ${part(floor)}.`;
}

/**
 * JavaScriptCore's collections during the tail's step (systems/gc.ts): each pauses the event
 * loop, and with sends arriving evenly, the share of the step spent paused is about the share
 * of messages that arrived during a pause and waited it out. A p99 leaves out only the
 * slowest 1%, so pauses near that share set it.
 */
export function gcNote(r: Results): string {
  const gcOf = (round: Round, id: string) => latencyOf(round, id, TAIL_RATE)?.gc;
  const [ours, floor] = [gcOf(r, "duplex-bun"), gcOf(r, "bare")];
  if (!ours || !floor) return "";
  const stepMs = r.plan.latency.durationMs;
  const part = (g: GcUse) => g.collections === 0 ? "not once" : `${g.collections} times${g.full > 0 ? `, ${g.full} of them full` : ""}, pausing its event loop for ${ms(g.pauseMs)} in all (${pct(g.pauseMs / stepMs)} of the step) and ${ms(g.maxPauseMs)} at the longest`;
  const later = (r.rounds ?? []).map((round) => [gcOf(round, "duplex-bun"), gcOf(round, "bare")]);
  const rounds = later.length > 0 && later.every(([a, b]) => a && b)
    ? ` In the later rounds duplex's node collected ${later.map(([a]) => a!.collections).join(", ")} times, the floor's ${later.map(([, b]) => b!.collections).join(", ")}.`
    : "";
  return ` During round 1's step JavaScriptCore collected duplex's heap ${part(ours)}; the floor's ${part(floor)}. With sends arriving evenly, the share of its step a server spent paused is about the share of its messages that arrived during a pause and waited it out; a p99 leaves out only the slowest 1%.${rounds}`;
}

const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

/** The cluster's floors (targets.ts bareCluster), the hops alone first. */
export const FLOORS = [
  { id: "bare-cluster", what: "the hops alone" },
  { id: "bare-cluster-store", what: "the hops and one Redis append a batch" },
];
const DESIGN = "The floors of this design in the same run (bare Bun.serve ×3 behind duplex's RabbitMQ hops, with no frame validation and no metrics, driven by the same clients; docs/09-order.md, the floor)";
const NONE = "so no implementation of this pipeline meets the target on this machine";
const WITHIN = "what duplex adds beyond them (its store's append, its own work per message) is what misses it";
const STALLED = "Each measured worse than duplex itself, which does more than any floor: the machine stalled during their steps, so they decide nothing";

/**
 * The floors, fewest steps first, from the first that misses the target when every floor
 * after it (each doing more) misses it too; undefined when any floor that does at least as
 * much met it. A floor that misses while one doing more meets the target was unlucky in its
 * step (the machine stalled), not limited, so it proves nothing. Only trusted floors are
 * passed: duplex does more than any floor, so one slower than duplex was stalled too.
 */
function firstBeyond<F>(floors: F[], misses: (f: F) => boolean): F | undefined {
  let first: F | undefined;
  for (const f of floors) first = misses(f) ? (first ?? f) : undefined;
  return first;
}

/**
 * The cluster's floors at `rate`. Where the floors' own figures already miss a limit of the
 * target, no implementation of the pipeline meets the target here, and the sentence says so.
 */
export function designNote(r: Results, rate: number, limits: { p50?: number; p99?: number; whose: string }): string {
  const floors = FLOORS.flatMap((f) => {
    const l = latencyOf(r, f.id, rate);
    return l ? [{ ...f, l }] : [];
  });
  if (floors.length === 0) return "";
  const missed = ({ e2e }: LatencyResult) => [
    limits.p50 !== undefined && e2e.p50 > limits.p50 ? `the p50 is over the target's ${ms2(limits.p50)}` : "",
    limits.p99 !== undefined && e2e.p99 > limits.p99 ? `the p99 is over ${limits.whose} ${ms2(limits.p99)}` : "",
  ].filter((m) => m !== "");
  const figures = floors.map(({ what, l }) => `with ${what}, p50 ${ms2(l.e2e.p50)} and p99 ${ms2(l.e2e.p99)}${l.cpu ? ` (${cores(l.cpu.machine)} of the machine's cores busy)` : ""}`);
  // duplex does more than any floor: a floor slower than duplex was stalled, not limited.
  const ours = latencyOf(r, "duplex-cluster", rate)?.e2e;
  const trusted = floors.filter(({ l }) => !ours || (l.e2e.p50 <= ours.p50 && l.e2e.p99 <= ours.p99));
  const first = firstBeyond(trusted, (f) => missed(f.l).length > 0);
  return ` ${DESIGN} had, at ${rate} msg/s: ${figures.join("; ")}${verdict(first && `With ${first.what} ${missed(first.l).join(" and ")}`, trusted.length > 0)}.`;
}

/** The cluster's floors over the conversations ladder, against the rate the target asks for. */
export function designRateNote(r: Results, needed: number): string {
  const floors = FLOORS.flatMap((f) => {
    const best = bestOf(r, f.id, "convs")?.best;
    return best ? [{ ...f, best }] : [];
  });
  if (floors.length === 0) return "";
  const figures = floors.map(({ what, best }) => `with ${what}, ${n(best.rate)} sends/s (p99 ${ms2(best.e2e.p99)})`);
  const ours = bestOf(r, "duplex-cluster", "convs")?.best;
  const trusted = floors.filter(({ best }) => !ours || best.rate >= ours.rate);
  const short = firstBeyond(trusted, (f) => f.best.rate < needed);
  return ` ${DESIGN} sustained, ${figures.join("; ")}${verdict(short && `With ${short.what} that is short of the ${n(needed)} the target asks`, trusted.length > 0)}.`;
}

/** What the floors decide: a floor beyond the target (`beyond`, its words), the target within reach, or nothing. */
function verdict(beyond: string | undefined, anyTrusted: boolean): string {
  if (beyond) return `. ${beyond} before duplex adds anything, ${NONE}`;
  return anyTrusted ? `: within the target, so ${WITHIN}` : `. ${STALLED}`;
}

/** The cluster at the plan's floor rate, when even there the median is over `p50Ms`. */
export function floorNote(r: Results, p50Ms: number): string {
  const rate = r.plan.latency.floorRate;
  const floor = rate ? latencyOf(r, "duplex-cluster", rate) : undefined;
  if (!floor?.cpu || floor.e2e.p50 <= p50Ms) return "";
  const queued = floor.stages?.find((s) => s.stage === "shard_queue")?.p50;
  return ` Even at ${rate} msg/s, with ${cores(floor.cpu.machine)} of the machine's cores busy, the p50 was ${ms2(floor.e2e.p50)}${queued == null ? "" : `, ${ms2(queued)} of it between the ingress publish and the shard's owner taking the message (shard_queue)`}: what the hops take when nothing waits for CPU (docs/09-order.md, how fast the path is when nothing waits).`;
}

/**
 * A ratio target against Socket.IO that duplex misses, tried on bare Bun's native publish,
 * which does none of duplex's work. Where that floor meets it, duplex's own work misses it;
 * where it measured k× only over the p99 allowed, at a step aimed at k× (run.ts `aimed`),
 * or never sustained k×, no server on this runtime met the target on this machine in this run.
 */
export function floorAtRatio(r: Results, shape: Shape, k: number, tail: number): string {
  const theirs = bestOf(r, "socketio", shape)?.best;
  const floorRun = bestOf(r, "bare", shape);
  if (!theirs || !floorRun?.best) return "";
  const who = "Bare Bun's native publish, doing none of duplex's work,";
  const limit = `${tail === 1 ? "" : `${tail}× `}Socket.IO's p99 (${ms(tail * theirs.e2e.p99)})`;
  const met = stepAtTheirP99(floorRun, theirs, k, tail);
  if (met) return ` ${who} met it (${n(met.deliveredPerSec)} delivered/s at p99 ${ms(met.e2e.p99)}): what duplex adds to each send is what misses it.`;
  const need = k * theirs.deliveredPerSec;
  if (floorRun.best.deliveredPerSec < need && saturated(floorRun)) {
    return ` ${who} sustained at most ${n(floorRun.best.deliveredPerSec)} delivered/s, short of ${k}× Socket.IO's ${n(need)}: ${NO_SERVER}.`;
  }
  const atK = floorRun.steps.filter((st) => st.passed && st.deliveredPerSec >= need).sort((a, b) => a.rate - b.rate)[0];
  if (!atK) return "";
  const fact = ` ${who} reached ${k}× Socket.IO's delivered/s at ${n(atK.rate)} sends/s${atK.aimed ? " (a step run at that ratio)" : ""} with a p99 of ${ms(atK.e2e.p99)}, over ${limit}`;
  return atK.aimed ? `${fact}: ${NO_SERVER}.` : `${fact}.`;
}

const NO_SERVER = "no server on this runtime met the target on this machine in this run";

/** Group fan-out on one node: what the two floors say about one send per socket against Bun's pub/sub. */
export function fanoutNote(r: Results): string {
  const loop = bestOf(r, "bare-loop", "group")?.best;
  const publish = bestOf(r, "bare", "group")?.best;
  const ours = bestOf(r, "duplex-bun", "group")?.best;
  if (!loop || !publish || !ours) return "";
  return `Fan-out dominates here (199 writes per send): a bare Bun server sustained ${n(loop.deliveredPerSec)} delivered/s writing to each socket itself and ${n(publish.deliveredPerSec)} with Bun's native pub/sub (one call per message); duplex, which publishes to a topic per conversation, sustained ${n(ours.deliveredPerSec)}.${floorAtRatio(r, "group", 3, 1)}`;
}

/** 1:1 conversations on one node: three writes per send, so the per-send path dominates. */
export function perSendNote(r: Results): string {
  const loopRun = bestOf(r, "bare-loop", "convs");
  const publishRun = bestOf(r, "bare", "convs");
  const ours = bestOf(r, "duplex-bun", "convs")?.best;
  if (!loopRun?.best || !ours) return "";
  const floor = publishRun?.best ? ` and with Bun's pub/sub ${saturated(publishRun) ? "" : "at least "}${n(publishRun.best.rate)} (${perSend(publishRun.best)})` : "";
  return `With three deliveries per send the work per send dominates: duplex sustained ${n(ours.rate)} sends/s (${perSend(ours)}) where the bare floor with the same send loop sustained ${saturated(loopRun) ? "" : "at least "}${n(loopRun.best.rate)} (${perSend(loopRun.best)})${floor}; the difference is duplex's path for each send (frame validation, membership check, sequencing through the in-process broker and the store, the ack, metrics).${budget(r)}${profiled(r)}`;
}

/** What three times Socket.IO's rate asks, and what the systems that sustained it spent a send. */
function budget(r: Results): string {
  const sioRun = bestOf(r, "socketio", "convs");
  if (!sioRun?.best) return "";
  const needed = 3 * sioRun.best.rate;
  const reached = r.throughput.filter((t) => t.shape === "convs" && t.best && t.best.rate >= needed);
  const head = ` Three times Socket.IO's rate is ${saturated(sioRun) ? "" : "at least "}${n(needed)} sends/s`;
  if (reached.length === 0) return `${head}, and no system sustained that in this run.${ceiling(r, needed)}`;
  return `${head}; ${reached.map((t) => `${t.label} sustained it spending ${perSend(t.best!)}`).join(", ")}, on the ${r.machine.cpus} cores the load processes share.${machineBound(r, needed)}`;
}

/**
 * Where duplex's own cost per send puts `needed` out of one node's reach: its JavaScript runs
 * on one thread, so one core's worth of CPU at the cost its best step measured bounds it.
 * The cost per send falls as the rate rises (more per wake-up), so this is an estimate.
 */
function ceiling(r: Results, needed: number): string {
  const ours = bestOf(r, "duplex-bun", "convs")?.best;
  if (!ours || ours.serverCores <= 0) return "";
  const perCore = ours.rate / ours.serverCores;
  if (perCore >= needed) return "";
  return ` At the ${perSend(ours)} duplex spent at its best step, one core's worth of CPU, all its JavaScript thread can use, would carry about ${n(perCore)} sends/s: below that rate before the load processes take their share.`;
}

/**
 * What the machine had left where duplex fell behind: the whole machine's CPU over duplex's
 * first failed step beside its server's, and over the floor's step at `needed`. A server
 * using less than its core on a machine with none to spare shared it with the load processes.
 */
function machineBound(r: Results, needed: number): string {
  const ours = bestOf(r, "duplex-bun", "convs");
  const failed = ours && firstFailed(ours);
  const floor = bestOf(r, "bare", "convs")?.steps.find((s) => s.passed && s.rate >= needed);
  if (!failed?.machineCores || !floor?.machineCores) return "";
  const cpus = r.machine.cpus;
  const spare = failed.machineCores >= 0.9 * cpus ? "the machine had no CPU to spare" : "the machine was not short of CPU";
  return ` Over ${n(failed.rate)} sends/s, the step duplex did not sustain (sending and the wait for its acks), ${spare}: ${cores(failed.machineCores)} of its ${cpus} cores were busy, ${cores(failed.serverCores)} of them duplex's server; over the floor's step at ${n(floor.rate)} sends/s, ${cores(floor.machineCores)} were, ${cores(floor.serverCores)} of them its server.`;
}

/** The profiled step's top entries, for the reader to see where a send's time goes. */
function profiled(r: Results): string {
  const p = r.profile;
  if (!p || p.top.length === 0) return "";
  const top = p.top.slice(0, 6).map((e) => `${e.fn} ${e.selfPct.toFixed(1)}%${e.where === "native" ? "" : ` (${e.where})`}`);
  return ` The profile of one such node at ${n(p.rate)} sends/s (table above), by self samples: ${top.join(", ")}.`;
}

/** Across nodes: equal steps are equal within the ladder's resolution; the p99 tells the pipelines apart. */
export function clusterNote(r: Results, shape: Shape): string {
  const ours = bestOf(r, "duplex-cluster", shape)?.best;
  const theirs = bestOf(r, "socketio-cluster", shape)?.best;
  if (!ours || !theirs) return "";
  const { ladder } = shape === "group" ? r.plan.group : r.plan.convs;
  const rate = ours.rate === theirs.rate
    ? `Both sustained the same step, ${n(ours.rate)} sends/s (the ladder's steps are ×${resolution(ladder).toFixed(2)} apart, so they are equal within that resolution)`
    : `duplex sustained ${n(ours.rate)} sends/s, Socket.IO ${n(theirs.rate)}`;
  const tail = ours.e2e.p99 <= theirs.e2e.p99
    ? "duplex held the lower p99"
    : "duplex's p99 was higher: each message waits for its shard's batch to be appended in Redis and the fanout publish to be confirmed before it reaches the other nodes, where the adapter publishes once and forgets";
  return `${rate}; ${tail}.`;
}
