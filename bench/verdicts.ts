/**
 * The comparisons a run is read for: ratios against the floor and the peer, and the
 * issue's targets — reported, never asserted. A missed target comes with the reason
 * the run's own numbers point to.
 */
import { atTheirP99, bestOf, div, idleOf, kib, latencyOf, perConn, ms, ms2, type Repeated, repeated, type Round, saturated, TAIL_RATE, targetStep, x, xs } from "./lookup.ts";
import type { Results } from "./report.ts";
import type { LatencyResult } from "./scenarios/latency.ts";
import { clusterNote, cpuNote, designNote, designRateNote, fanoutNote, FLOORS, floorAtRatio, floorNote, gcNote, perSendNote, threadNote } from "./verdict-notes.ts";

export interface Ratio {
  what: string;
  value: number | null;
  /** How to read it: "higher is better" or "lower is better". */
  better: "higher" | "lower";
}

export interface Verdict {
  target: string;
  measured: string;
  met: boolean | null;
  /** Why it was missed, from this run's numbers; empty when met. */
  why: string;
}

export function ratios(r: Results): Ratio[] {
  const out: Ratio[] = [];
  const mem = (id: string) => perConn(r, id);
  const conn = (id: string) => idleOf(r, id)?.connectRate;
  // The figures the rounds repeat are round 1's here; the targets read their median.
  const round1 = r.rounds?.length ? " (round 1)" : "";
  out.push({ what: `memory per idle connection, duplex (bun) ÷ bare Bun${round1}`, value: div(mem("duplex-bun"), mem("bare")), better: "lower" });
  for (const rt of ["bun", "deno", "node"]) {
    const repeats = rt === "deno" ? "" : round1;
    if (idleOf(r, `duplex-${rt}`)) out.push({ what: `memory per idle connection, duplex (${rt}) ÷ Socket.IO (node)${repeats}`, value: div(mem(`duplex-${rt}`), mem("socketio")), better: "lower" });
  }
  out.push({ what: "connect rate, duplex (bun) ÷ bare Bun", value: div(conn("duplex-bun"), conn("bare")), better: "higher" });
  out.push({ what: "connect rate, duplex (bun) ÷ Socket.IO", value: div(conn("duplex-bun"), conn("socketio")), better: "higher" });
  for (const rate of r.plan.latency.rates) {
    const p99 = (id: string) => latencyOf(r, id, rate)?.e2e.p99;
    out.push({ what: `e2e p99 at ${rate}/s, duplex (bun) ÷ bare Bun${rate === TAIL_RATE ? round1 : ""}`, value: div(p99("duplex-bun"), p99("bare")), better: "lower" });
    out.push({ what: `e2e p99 at ${rate}/s, duplex (bun) ÷ Socket.IO`, value: div(p99("duplex-bun"), p99("socketio")), better: "lower" });
    out.push({ what: `e2e p99 at ${rate}/s, duplex cluster ÷ Socket.IO cluster`, value: div(p99("duplex-cluster"), p99("socketio-cluster")), better: "lower" });
    for (const f of FLOORS) out.push({ what: `e2e p99 at ${rate}/s, duplex cluster ÷ its floor with ${f.what}`, value: div(p99("duplex-cluster"), p99(f.id)), better: "lower" });
  }
  for (const shape of ["group", "convs"] as const) {
    const d = (id: string) => bestOf(r, id, shape)?.best?.deliveredPerSec;
    const name = shape === "group" ? "group" : "conversations";
    out.push({ what: `delivered/s (${name}), duplex (bun) ÷ bare Bun`, value: div(d("duplex-bun"), d("bare")), better: "higher" });
    out.push({ what: `delivered/s (${name}), duplex (bun) ÷ bare Bun with a send loop`, value: div(d("duplex-bun"), d("bare-loop")), better: "higher" });
    out.push({ what: `delivered/s (${name}), duplex (bun) ÷ Socket.IO`, value: div(d("duplex-bun"), d("socketio")), better: "higher" });
    out.push({ what: `delivered/s (${name}), duplex cluster ÷ Socket.IO cluster`, value: div(d("duplex-cluster"), d("socketio-cluster")), better: "higher" });
    if (shape === "convs") for (const f of FLOORS) out.push({ what: `delivered/s (conversations), duplex cluster ÷ its floor with ${f.what}`, value: div(d("duplex-cluster"), d(f.id)), better: "higher" });
  }
  out.push({ what: "messages/s through the cluster (conversations) ÷ raw RabbitMQ hop", value: div(bestOf(r, "duplex-cluster", "convs")?.best?.rate, r.hop?.perSec), better: "higher" });
  return out;
}

export function verdicts(r: Results): Verdict[] {
  const out: Verdict[] = [];
  const memRatio = repeated(r, memoryRatio("duplex-bun", "bare"));
  out.push({
    target: "memory per idle connection ≤ 2.3× bare Bun",
    measured: xs(memRatio),
    met: memRatio === null ? null : memRatio.median <= 2.3,
    why: `${inRound1(memRatio) ? "In round 1, d" : "D"}uplex (bun) grew by ${kib(perConn(r, "duplex-bun"))} KiB per connection past the first third, the floor by ${kib(perConn(r, "bare"))} KiB (Socket.IO: ${kib(perConn(r, "socketio"))} KiB). A duplex connection carries what the floor does not: a session record in the store, its rate limiter and connection state, the per-user index entry, and Hono's upgrade context with the handlers it keeps per socket; the floor keeps only Bun's own socket and its topic subscriptions.`,
  });
  out.push(...oneNode(r));
  const l = latencyOf(r, "duplex-bun", TAIL_RATE);
  const p99At5k = (id: string) => { const v = latencyOf(r, id, TAIL_RATE); return v ? `${v.e2e.p99.toFixed(2)} ms` : "n/a"; };
  const ownTail = repeated(r, (round) => latencyOf(round, "duplex-bun", TAIL_RATE)?.e2e.p99 ?? null);
  out.push({
    target: `e2e p99 ≤ 5 ms at ${TAIL_RATE} msg/s on one node`,
    measured: l ? `${xs(ownTail, (v) => `${v.toFixed(2)} ms`)}; ${inRound1(ownTail)}bare Bun ${p99At5k("bare")}, with a send loop ${p99At5k("bare-loop")}, Socket.IO ${p99At5k("socketio")}, load generator lag p99 ${l.lagP99.toFixed(2)} ms` : "not measured",
    met: ownTail ? ownTail.median <= 5 : null,
    why: `The median is at the floor's (${l ? l.e2e.p50.toFixed(2) : "n/a"} ms); the tail is not. Each send is validated, checked against membership, sequenced through the in-process broker and the store, acked and then fanned out — more work on the one JavaScript thread that also reads every other socket, so a burst queues behind it. On two cores the node also competes with three load processes${l && l.lagP99 > 1 ? `, which themselves ran up to ${l.lagP99.toFixed(1)} ms late (p99)` : ""}: the floors' p99 in the same run show how much of the tail the machine alone adds.${gcNote(r)}`,
  });
  const clusterRun = bestOf(r, "duplex-cluster", "convs");
  const cluster = clusterRun?.best;
  const hopShare = div(cluster?.rate, r.hop?.perSec);
  const clusterOpen = !saturated(clusterRun);
  out.push({
    target: "cluster throughput ≥ 50% of the raw RabbitMQ hop",
    measured: hopShare === null ? "not measured" : `${clusterOpen ? "≥ " : ""}${(hopShare * 100).toFixed(0)}% (${Math.round(cluster!.rate)} vs ${Math.round(r.hop!.perSec)} msg/s)${clusterOpen ? "; the ladder's top step passed" : ""}`,
    met: hopShare === null ? null : hopShare >= 0.5 ? true : clusterOpen ? null : false,
    why: "A message crosses RabbitMQ twice (ingress → shard queue, then the fanout to every node's queue) with a Redis append in between, and a shard acks its batch only once the fanout is confirmed; the raw hop is one publish and one consume. On this machine the broker, Redis, three nodes and the load clients also share two cores.",
  });
  for (const [id, peer, where] of [["duplex-bun", "socketio", "one node"], ["duplex-cluster", "socketio-cluster", "cluster"]] as const) {
    for (const shape of ["group", "convs"] as const) {
      const oursRun = bestOf(r, id, shape);
      const theirsRun = bestOf(r, peer, shape);
      const ours = oursRun?.best;
      const theirs = theirsRun?.best;
      const k = div(ours?.deliveredPerSec, theirs?.deliveredPerSec);
      const name = shape === "group" ? "group of 100 × 2 devices" : `${r.plan.convs.count} conversations`;
      // A system that passed the ladder's top step was not saturated: its number is a lower bound.
      const open = !saturated(oursRun) && !saturated(theirsRun) ? "both passed the ladder's top step, so neither was saturated"
        : !saturated(theirsRun) ? "Socket.IO passed the ladder's top step" : !saturated(oursRun) ? "duplex passed the ladder's top step" : "";
      const step = targetStep(r, id, shape, 3);
      const met = k === null ? null
        : !saturated(theirsRun) && saturated(oursRun) ? false
        : !saturated(oursRun) ? (step ? true : null)
        : step !== undefined;
      out.push({
        target: `≥ 3× Socket.IO's delivered msgs/s at an equal or better p99 (${name}, ${where})`,
        measured: k === null ? "not measured" : `${x(k)} (p99 ${ours!.e2e.p99.toFixed(1)} vs ${theirs!.e2e.p99.toFixed(1)} ms)${atTheirP99(step, theirs)}${open ? `; ${open}` : ""}`,
        met,
        why: [
          `Socket.IO does less per message: no store, no sequencing, no ack that means stored${where === "cluster" ? ", and across nodes one Redis PUBLISH instead of two confirmed RabbitMQ hops and a Redis append" : ""}.`,
          where === "cluster" ? clusterNote(r, shape) : shape === "group" ? fanoutNote(r)
            // When the issue's own target (the same steps) fails too, it carries the note; once is enough.
            : conversationsTarget(r).met === false ? `Where a send's time goes is under the target "${r.plan.convs.count} conversations on one Bun node", which reads the same steps.` : perSendNote(r),
        ].join(" "),
      });
    }
  }
  out.push(...clusterPipeline(r));
  return out.map((v) => ({ ...v, why: v.met === false ? v.why : "" }));
}

/** Issue 15: the cluster path against Socket.IO ×3 and the raw hop, measured in the same run. */
function clusterPipeline(r: Results): Verdict[] {
  const out: Verdict[] = [];
  const ours = latencyOf(r, "duplex-cluster", 1000);
  const theirs = latencyOf(r, "socketio-cluster", 1000);
  const stageNote = (l: LatencyResult | undefined) => {
    const slowest = l?.stages?.filter((s) => s.p50 !== null).sort((a, b) => b.p50! - a.p50!)[0];
    return slowest ? ` The slowest stage at this rate was ${slowest.stage} (p50 ${ms2(slowest.p50!)}, p99 ${ms2(slowest.p99!)}); see the stage table.` : "";
  };
  out.push({
    target: "cluster, cross-node 1:1 at 1000 msg/s: p99 ≤ Socket.IO ×3's and p50 ≤ 3 ms",
    measured: ours && theirs ? `p50 ${ms2(ours.e2e.p50)}, p99 ${ms2(ours.e2e.p99)} (Socket.IO ×3: p50 ${ms2(theirs.e2e.p50)}, p99 ${ms2(theirs.e2e.p99)})` : "not measured",
    met: ours && theirs ? ours.e2e.p50 <= 3 && ours.e2e.p99 <= theirs.e2e.p99 : null,
    why: `A duplex message crosses RabbitMQ twice with a Redis append between, where the adapter makes one Redis PUBLISH.${designNote(r, 1000, { p50: 3, p99: theirs?.e2e.p99, whose: "Socket.IO ×3's" })}${cpuNote(r, ours, theirs)}${stageNote(ours)}${floorNote(r, 3)}`,
  });
  const fast = latencyOf(r, "duplex-cluster", 5000);
  const complete = !!fast && fast.errors === 0 && fast.received >= fast.sent;
  out.push({
    target: "cluster, cross-node 1:1 at 5000 msg/s: every send acked and delivered, p99 ≤ 100 ms",
    measured: fast ? `${fast.received} of ${fast.sent} delivered, ${fast.errors} unacked, p99 ${ms2(fast.e2e.p99)}` : "not reached (a lower rate was not sustained)",
    met: fast ? complete && fast.e2e.p99 <= 100 : false,
    why: fast ? `The pipeline fell behind the offered rate.${designNote(r, 5000, { p99: 100, whose: "the target's" })}${cpuNote(r, fast, latencyOf(r, "socketio-cluster", 5000))}${stageNote(fast)}` : "The latency ladder stops at the first rate it does not sustain, and that was below 5000 msg/s.",
  });
  const convs = bestOf(r, "duplex-cluster", "convs")?.best;
  const sioConvs = bestOf(r, "socketio-cluster", "convs")?.best;
  const vsPeer = div(convs?.rate, sioConvs?.rate);
  const vsHop = div(convs?.rate, r.hop?.perSec);
  out.push({
    target: `cluster, ${r.plan.convs.count} conversations sustained: ≥ 1.5× Socket.IO ×3's sends/s and ≥ 30% of the raw hop`,
    measured: vsPeer === null || vsHop === null ? "not measured" : `${x(vsPeer)} Socket.IO ×3, ${(vsHop * 100).toFixed(0)}% of the hop (${Math.round(convs!.rate)} vs ${Math.round(sioConvs!.rate)} and ${Math.round(r.hop!.perSec)} sends/s)`,
    met: vsPeer === null || vsHop === null ? null : vsPeer >= 1.5 && vsHop >= 0.3,
    why: `Each send is one ingress publish, one delivery from its shard queue and its share of a Redis append, a fanout publish and an ack; on two shared cores the broker, Redis, three nodes and the load clients compete for the same CPU.${sioConvs && r.hop ? designRateNote(r, Math.max(1.5 * sioConvs.rate, 0.3 * r.hop.perSec)) : ""}`,
  });
  const group = bestOf(r, "duplex-cluster", "group")?.best;
  const sioGroup = bestOf(r, "socketio-cluster", "group")?.best;
  const k = div(group?.deliveredPerSec, sioGroup?.deliveredPerSec);
  const twice = targetStep(r, "duplex-cluster", "group", 2);
  out.push({
    target: "cluster, group of 100 × 2 devices: ≥ 2× Socket.IO ×3's delivered/s at an equal or lower p99",
    measured: k === null ? "not measured" : `${x(k)} (p99 ${group!.e2e.p99.toFixed(1)} vs ${sioGroup!.e2e.p99.toFixed(1)} ms)${atTheirP99(twice, sioGroup)}`,
    met: k === null ? null : twice !== undefined,
    why: "Fan-out to 199 devices is per-socket work on every node (issue 16's side of the path); the cluster pipeline adds its two RabbitMQ hops and the append per send.",
  });
  const staged = [1000, 5000].map((rate) => latencyOf(r, "duplex-cluster", rate)).filter((l) => l?.stages?.some((s) => s.count > 0));
  out.push({
    target: "cluster, where the time goes: a p50/p99 per pipeline stage at 1000 and 5000 msg/s",
    measured: staged.length === 0 ? "not measured" : `stage table at ${staged.map((l) => `${l!.rate}/s`).join(" and ")}`,
    met: staged.length === 2,
    why: "The stage table has a column only for the rates the latency ladder reached.",
  });
  return out;
}

/** Where a target reads a median of rounds, the figures quoted beside it are round 1's. */
const inRound1 = (v: Repeated | null) => (v && v.each.length > 1 ? "round 1: " : "");

/** What duplex adds over the runtime's own socket, as the floor on that runtime measures it. */
function own(r: Results, id: string, floor: string): string {
  const [ours, bare] = [perConn(r, id), perConn(r, floor)];
  return ours === undefined || bare === undefined ? "n/a" : kib(ours - bare);
}

/** One round's memory per idle connection of `ours` over `theirs`. */
const memoryRatio = (ours: string, theirs: string) => (round: Round) => div(perConn(round, ours), perConn(round, theirs));

/**
 * Deno's figure beside the floors that run the same server: duplex on Deno serves through
 * node:http and `ws` in Deno's Node compatibility layer, as bare-ws.ts does on both runtimes.
 */
function denoMemory(r: Results): Verdict {
  const mem = (id: string) => perConn(r, id);
  const deno = mem("duplex-deno");
  const [floor, nodeFloor] = [mem("bare-ws-deno"), mem("bare-ws")];
  const socket = deno === undefined || floor === undefined || nodeFloor === undefined
    ? "the bare `ws` server on Deno was not measured in this run"
    : `a bare \`ws\` server on node:http held ${kib(floor)} KiB on Deno and ${kib(nodeFloor)} KiB on Node: Deno's Node-compatible socket costs ${kib(floor - nodeFloor)} KiB more than Node's before any server code runs, and ${deno >= floor ? `duplex adds ${kib(deno - floor)} KiB to it` : `duplex measured ${kib(floor - deno)} KiB below it: what duplex adds is lost in the spread of the socket's cost`} (on Node duplex adds ${own(r, "duplex-node", "bare-ws")} KiB)`;
  return {
    target: "memory per idle connection on Deno measured and explained",
    measured: deno === undefined ? "not measured" : `${kib(deno)} KiB a connection past the first third (Bun ${kib(mem("duplex-bun"))}, Node ${kib(mem("duplex-node"))}); ${socket}. What Deno's socket is made of (JavaScript heap, the heap V8 commits ahead of it, native memory) is in docs/13-production.md (sizing)`,
    met: deno === undefined ? null : true,
    why: "",
  };
}

/** Issue 16's targets for one node and for one machine. */
function oneNode(r: Results): Verdict[] {
  const out: Verdict[] = [];
  const mem = (id: string) => perConn(r, id);
  const whole = (id: string) => kib(idleOf(r, id)?.bytesPerConn);
  const nodeRatio = repeated(r, memoryRatio("duplex-node", "socketio"));
  const wsFloor = mem("bare-ws");
  out.push({
    target: "memory per idle connection on Node ≤ 0.5× Socket.IO",
    measured: `${xs(nodeRatio)}; ${inRound1(nodeRatio)}${kib(mem("duplex-node"))} vs ${kib(mem("socketio"))} KiB a connection past the first third, a bare \`ws\` server ${kib(wsFloor)} KiB (the whole burst over its count: ${whole("duplex-node")} vs ${whole("socketio")} KiB, bare \`ws\` ${whole("bare-ws")})`,
    met: nodeRatio === null ? null : nodeRatio.median <= 0.5,
    why: `A duplex socket on Node is a \`ws\` socket, and a bare \`ws\` server with nothing else held ${kib(wsFloor)} KiB per idle connection in ${inRound1(nodeRatio) ? "round 1" : "this run"} (net.Socket, ws's WebSocket with its Receiver stream and Sender): ${x(div(wsFloor, mem("socketio")))} of Socket.IO's before any server code. duplex's own objects (session record and the store's copy, connection, rate limiter, index entries) and its handshakes' garbage add ${own(r, "duplex-node", "bare-ws")} KiB on Node and ${own(r, "duplex-bun", "bare")} KiB on Bun; the target leaves ${kib(mem("socketio") === undefined || wsFloor === undefined ? undefined : mem("socketio")! / 2 - wsFloor)} KiB for them. Heap snapshots of both, item by item, and how RSS moves in the seconds after a burst of connections are in docs/13-production.md (sizing).`,
  });
  out.push(denoMemory(r));
  const group = (id: string) => bestOf(r, id, "group")?.best;
  const share = div(group("duplex-bun")?.deliveredPerSec, group("bare")?.deliveredPerSec);
  out.push({
    target: "group 1 → 199 on one Bun node ≥ 50% of bare Bun's native publish",
    measured: share === null ? "not measured" : `${(share * 100).toFixed(0)}% (${Math.round(group("duplex-bun")!.deliveredPerSec)} vs ${Math.round(group("bare")!.deliveredPerSec)} delivered/s)`,
    // A ladder whose top step passed gives a lower bound: duplex's short of the target decides
    // nothing, and so does a share of the floor's, which is then only an upper bound.
    met: share === null ? null : share >= 0.5 ? (saturated(bestOf(r, "bare", "group")) ? true : null) : saturated(bestOf(r, "duplex-bun", "group")) ? false : null,
    why: "Both publish once per message to a Bun topic; duplex also validates, checks membership, sequences and stores each send, acks it, and after the publish looks at every recipient's send buffer (the slow-reader bound).",
  });
  const { ours, theirs, k, met, step } = conversationsTarget(r);
  out.push({
    target: `${r.plan.convs.count} conversations on one Bun node: ≥ 3× Socket.IO's sends/s at a p99 ≤ 2× Socket.IO's`,
    measured: k === null ? "not measured" : `${x(k)} (${Math.round(ours!.rate)} vs ${Math.round(theirs!.rate)} sends/s; p99 ${ms(ours!.e2e.p99)} vs ${ms(theirs!.e2e.p99)})${atTheirP99(step, theirs)}`,
    met,
    why: perSendNote(r) + floorAtRatio(r, "convs", 3, 2),
  });
  const p99 = (round: Round, id: string) => latencyOf(round, id, TAIL_RATE)?.e2e.p99;
  const tail = repeated(r, (round) => div(p99(round, "duplex-bun"), p99(round, "bare")));
  out.push({
    target: `e2e p99 at ${TAIL_RATE} msg/s on one Bun node ≤ 2× bare Bun's`,
    measured: tail === null ? "not measured" : `${xs(tail)}; ${inRound1(tail)}${ms(p99(r, "duplex-bun"))} vs ${ms(p99(r, "bare"))}`,
    met: tail === null ? null : tail.median <= 2,
    why: `Each send takes a turn of the node's one JavaScript thread for validation, membership, sequencing through the in-process broker and the store, the ack and the fan-out; a burst queues behind it, where the floor parses the frame, counts a seq and publishes.${lagNote(r)}${threadNote(latencyOf(r, "duplex-bun", TAIL_RATE), latencyOf(r, "bare", TAIL_RATE))}${gcNote(r)}`,
  });
  const sc = r.scale;
  const want = r.plan.scale?.conns;
  out.push({
    target: `${want?.toLocaleString("en-US") ?? "45,000"} idle authenticated connections on three nodes with Redis and RabbitMQ, all registered`,
    measured: !sc ? "not measured" : `${sc.conns.toLocaleString("en-US")} held and registered; RSS per node ${sc.rssPerNode.map((b) => (b / 2 ** 20).toFixed(0)).join(", ")} MiB; Redis ${Math.round(sc.redisBytesPerSession)} B/session; ${Math.round(sc.registeredRate ?? 0)} connects/s; death noticed ${sc.deathNoticedMs === null ? "not within the bound" : `after ${(sc.deathNoticedMs / 1000).toFixed(1)} s`}`,
    met: !sc ? null : sc.conns >= (want ?? 0) && sc.deathNoticedMs !== null,
    why: "The run did not hold every connection, or the dead node's sessions outlived the sweep's bound.",
  });
  return out;
}

/**
 * How late the load processes ran during each system's step: they send and read on the same
 * cores as the node, and a stall of theirs lands in the latency they measure.
 */
function lagNote(r: Results): string {
  const [ours, floor] = [latencyOf(r, "duplex-bun", TAIL_RATE), latencyOf(r, "bare", TAIL_RATE)];
  if (!ours || !floor) return "";
  return ` The load processes share the machine's ${r.machine.cpus} cores with the node and read the frames they time: in round 1 they ran up to ${ms(ours.lagP99)} late (p99 of their lateness against the send schedule) while duplex was measured and ${ms(floor.lagP99)} while the floor was, against tails of ${ms(ours.e2e.p99)} and ${ms(floor.e2e.p99)}.`;
}

/** Issue 16's target over the conversations: sends/s against Socket.IO's, at a p99 up to twice its. */
function conversationsTarget(r: Results) {
  const oursRun = bestOf(r, "duplex-bun", "convs");
  const ours = oursRun?.best;
  const theirs = bestOf(r, "socketio", "convs")?.best;
  const k = div(ours?.rate, theirs?.rate);
  const step = targetStep(r, "duplex-bun", "convs", 3, 2);
  // A ladder whose top step passed gives a lower bound: short of the target, it decides nothing.
  const met = k === null ? null : step ? true : saturated(oursRun) ? false : null;
  return { ours, theirs, k, met, step };
}
