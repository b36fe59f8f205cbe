/** The prose of docs/benchmarks.md that does not change from run to run. */
import { TAIL_RATE } from "./lookup.ts";
import { type Ladder, type Plan, resolution } from "./plan.ts";

export const METHOD = (p: Plan) => `## How it is measured

**Systems.** duplex nodes start as CONTRACT §1 says, on the embedded defaults (one node) or with
\`REDIS_URL\` and \`AMQP_URL\` (three Bun nodes, \`DUPLEX_SHARDS=16\`, quorum shard queues), each run under
a fresh \`DUPLEX_NAMESPACE\` whose Redis keys and RabbitMQ queues are deleted at the end. The only
setting changed is \`DUPLEX_RATE\` (raised: one load connection sends for many users; the limit
guards against abuse and costs the same either way). Logging stays at the default \`info\`. The
floor is \`bench/baseline/bare-bun.ts\`: Bun.serve with no auth, no store and no sequencing, run
twice — fanning out with Bun's native pub/sub (one call per message), and with one
\`ServerWebSocket.send\` per socket, the way a hub that keeps its own socket sets writes. On
Node and on Deno the floor for memory is \`bench/baseline/bare-ws.ts\`: a \`ws\` server on \`node:http\`, the
library and settings duplex's runtime uses on both (Deno through its Node compatibility layer), that only answers the upgrade with \`welcome\`. The
peer is \`bench/peer/socketio.ts\`: Socket.IO 4 on Node with the same JWT check, a room per
conversation and an ack callback; across nodes, \`@socket.io/redis-adapter\`.

**Load.** ${p.workers} load processes (Node + \`ws\`, \`bench/load/worker.ts\`), each binding its sockets to
8 source addresses of its own (127.0.0.10 and up), drive every system with the same client code;
only the framing differs (\`bench/load/codec.ts\`: Socket.IO's Engine.IO/Socket.IO packets are
written directly, as socket.io-client does over a WebSocket, so no system pays for a heavier
client). Sends are open loop: message *i* leaves at *start + i/rate* whatever the answers do, and
the client's lateness against that schedule is reported ("client lag"): when it is large, the
machine, not the server, set the tail. Latency runs from the moment a send is written to the
moment the receiving device reads the frame; both ends of a latency pair live in one process and
read one clock. Latencies go into HdrHistograms (\`hdr-histogram-js\`, 1 µs resolution, 3
significant digits) that the workers ship encoded and the orchestrator merges, so percentiles
are over every sample.

1. **Idle connections and memory.** After a warm-up round, ${p.idle.conns.toLocaleString("en-US")} authenticated sockets (one user
   each) are opened, spread over the load processes, in two parts: a third, then the rest. The
   server processes' RSS (\`/proc/PID/status\`) is read before, ${p.idle.settleMs} ms after the first part's last
   \`welcome\` and as long after the second's, without forcing a GC. Memory per connection is the
   growth over the second part divided by its connections: what one more connection costs once
   the runtime has paid what it pays once for a burst of handshakes (V8, for one, grows its
   young generation to its maximum and keeps it mapped). The whole growth divided by the whole
   count is reported beside it; it carries that fixed cost, so it reads higher the fewer
   connections are opened. RSS keeps moving for tens of seconds after a burst (the young
   generation the handshakes grew, session renewals, the runtime's own memory reducer:
   [sizing](13-production.md#sizing) follows it), so these are the figures right after the burst, for every
   system alike. A node here may hold at most about 20,000 (\`ulimit -n\`).
2. **Connect rate.** The same sockets, ${p.idle.concurrency} handshakes in flight per load process: upgrade, token
   check and \`welcome\`; on the cluster also until every session is registered in Redis (the
   per-node session indexes, counted with ZCARD).
3. **Latency.** ${p.latency.pairs} pairs of users in 1:1 conversations, senders spread evenly; on a cluster the two
   ends of a pair are on different nodes. ${p.latency.warmMs / 1000} s of warm-up, then ${p.latency.durationMs / 1000} s measured per rate.${p.latency.floorRate ? ` A cluster is measured first at ${p.latency.floorRate} msg/s, where the machine is mostly idle: what the hops take when nothing waits for CPU.` : ""}
   On the cluster, every node's \`duplex_pipeline_stage_seconds\` histogram is read from \`/metrics\`
   before and after each measured step and summed over the nodes; the stage table gives each
   stage's p50 and p99 over that step, estimated within the histogram's buckets as Prometheus's
   \`histogram_quantile\` does (so to a bucket's width; the stages are drawn in
   [chapter 9](09-order.md#where-a-messages-time-goes)). The cluster's latency is measured
   twice: on quorum shard queues (the default) and on classic ones, side by side.
   Beside the stages, the CPU each consumer used during the step, in cores: the three nodes,
   RabbitMQ and Redis (found by process name in \`/proc\`), and the whole machine
   (\`/proc/stat\`); on two shared cores a pipeline that waits for CPU shows it there.
   Every step also reads, from the kernel's \`/proc/PID/task/PID/schedstat\`, how long each server's
   main thread (its event loop) ran and how long it was ready to run but waited for a core;
   the tail target quotes both for duplex and the floor, with what their other threads ran.
   duplex's Bun nodes and the bare Bun floors run with \`BUN_JSC_logGC=1\`, so JavaScriptCore
   writes each collection, and each pause it makes the event loop take, into the server's log;
   the latency steps count the collections and sum the pauses that fall within the step
   (\`bench/systems/gc.ts\`), and the tail targets quote them for duplex and the floor.
   The cluster has a floor of its own, measured for latency and for the conversations ladder:
   \`bench/baseline/bare-bun.ts\` ×3 with \`BARE_AMQP_URL\` (\`bench/baseline/bare-pipeline.ts\`), whose sends
   cross RabbitMQ as duplex's do, on duplex's topology — published persistent and confirmed
   through the ingress exchange to a quorum shard queue with a single active consumer; the
   shard's owner numbers them from a counter in memory, joins one event-loop turn's batches
   into one transient fanout message and acks them once it is confirmed; every node publishes
   what it hears to its own sockets, and the sender is acked when its node hears its send
   come back. No Redis, no store, no frame validation, no hand-off. It runs twice: with the hops
   alone, and with one Redis \`RPUSH\` of each batch before its fanout, the least store an ack
   that means stored needs. Where a floor misses a cluster target, no implementation of the
   pipeline meets it on this machine, and the target says so; a floor that measured slower
   than duplex itself, which does more, was stalled by the machine and decides nothing.
4. **Throughput.** A ladder of open-loop rates, ${p.group.ladder.stepMs / 1000} s per step, rising by ×${p.group.ladder.factor};${refined(p.group.ladder)} the result is the highest
   step where ≥ ${p.passDelivered * 100}% of the expected deliveries arrived, every send was acked and p99 stayed
   ≤ ${p.passP99Ms} ms. A target of k× another system's rate "at an equal or lower p99" is met by any step
   duplex sustained at k× the other's result with a p99 no higher than the other's there; where no
   step of duplex's ladder decides it but a higher one sustained k×, duplex is started again
   once the other's ladder is done and runs one more step at exactly k× (marked "a step run
   at that ratio"). Where a single node still misses such a target against Socket.IO, bare Bun's
   native publish runs the same step: if it misses too, no server on this runtime meets the
   target on this machine in that run. Group: one sender, ${p.group.members} members with ${p.group.devices} devices each (199 deliveries per send).
   Conversations: ${p.convs.count} pairs of users with ${p.convs.devices} devices each, every conversation sending (3
   deliveries per send). The server's CPU is the user + system time of the system's own server
   processes (\`/proc/PID/stat\`) over the step: one JavaScript process can use about one core;
   the whole machine's (\`/proc/stat\`) includes the load processes, Redis, RabbitMQ and the kernel.
   After the Bun node's ladders, one more Bun node runs under Bun's CPU profiler (\`--cpu-prof-md\`) and
   takes one long conversations step at the rate the unprofiled node sustained; the report
   lists its functions by self samples (a sample's weighted time can carry a wait of the
   sampler's own). The profile covers the node's whole life, opening its sockets included.
   The ceiling is \`bench/baseline/rabbit-hop.ts\`: one hop built like a shard (quorum queue,
   single active consumer, persistent messages, confirms, prefetch 256, batched acks),
   saturated; its latency, and the CPU RabbitMQ spends on it, are taken at a fixed rate.
5. **Work per message.** The cluster's nodes reach Redis and RabbitMQ through loopback proxies
   (\`bench/count/proxies.ts\`) that parse the traffic: RESP commands by name, round trips (a burst
   of client bytes after the server last spoke, per connection), AMQP \`basic.publish\` frames
   from the nodes and \`basic.deliver\` frames to them. MONITOR would slow Redis down, INFO
   commandstats counts every other user of the shared Redis, and the RabbitMQ management API is
   not installed; a proxy sees exactly this cluster. What the idle cluster does (heartbeats,
   announcements, sweeps) is counted over a quiet window first, reported per second, and
   subtracted from the busy window in proportion to time.
   ${p.roundTrips.pairs} cross-node pairs at ${p.roundTrips.rate} msg/s; batching makes the per-message numbers fall as the rate rises.
6. **Recovery.** Clients on two of three nodes send ${p.recovery.rate} msg/s in ${p.recovery.convs} conversations spread over every
   shard; the third node, a shard owner, is killed with SIGKILL. Reported: the worst send-to-ack
   wait in the dead node's shards from one second before the kill on, against the same in the
   other shards and the ack p99 before the kill, and whether every send was acked and delivered.
${p.rounds > 1 ? `7. **Rounds.** The single-node targets on memory per connection and on the tail at
   ${TAIL_RATE.toLocaleString("en-US")} msg/s sit close to their bounds, and on this shared machine one run's figure can
   move by more than the margin. After the first pass, those measurements are taken ${p.rounds - 1} more
   times — idle memory of duplex on Bun and on Node, bare Bun, bare \`ws\` and Socket.IO, and the
   latency step at ${TAIL_RATE.toLocaleString("en-US")} msg/s of duplex on Bun and bare Bun (alone; in the first pass it follows
   the 1,000 msg/s step) — each system started afresh, one after the other. A ratio pairs two
   figures of the same round, measured minutes apart; each of those targets reads the median of its
   ${p.rounds} rounds, and every round's figures are in the table above its ratios.
` : ""}`;

export const GUARANTEES = `## What the peer does not guarantee

The Socket.IO numbers are for less work, and a reader choosing between them should weigh that:

| | duplex | Socket.IO 4 + redis-adapter |
| --- | --- | --- |
| order within a conversation | one \`seq\` per conversation, gap-free, the same on every node | per node only; two nodes relaying through Redis pub/sub may interleave differently |
| what an ack means | the message is stored (Redis or memory) and will be replayed | this node emitted it; nothing is stored |
| history and catch-up | \`sync\` and HTTP history after any disconnect | none: a device that was offline misses what was sent |
| delivery across nodes | RabbitMQ queues with publisher confirms; a crashed shard owner's work is redelivered | Redis pub/sub, at most once: a node whose subscriber reconnects misses what was published meanwhile |
| one user, many devices | a session registry across nodes; the same device connecting again replaces the old session | rooms per node; no cross-node replacement |

The floor (bare Bun.serve) guarantees even less — no auth, nothing stored, one process — and
exists to show what the hardware and the runtime allow.
`;

/** Results from before the ladder was refined have no `refine`. */
function refined(ladder: Ladder): string {
  if (!ladder.refine) return "";
  return ` between the last step sustained and the first not, ${ladder.refine} more steps split that gap evenly by ratio (×${resolution(ladder).toFixed(2)} apart), so a ratio between two systems is not rounded to a power of ${ladder.factor};`;
}
