/**
 * Metric 6: recovery after SIGKILL of a shard owner. Clients sit on two nodes of three
 * and send steadily in conversations spread over every shard; the third node, which
 * owns some shards, is killed mid-run. The result is the worst send-to-ack wait in the
 * conversations of the dead node's shards (from one second before the kill on): the
 * time a user in those conversations waited for the cluster to hand the shards over.
 * Every send must still be acked and delivered once.
 */
import { shardOf } from "../../src/broker/shard.ts";
import type { Sender } from "../load/commands.ts";
import { newHistogram, percentiles, recordMs } from "../load/hist.ts";
import { owners, type Target } from "../systems/targets.ts";
import { byWorker, type Ctx, delivered, pairs, sleep } from "./common.ts";

export interface RecoveryResult {
  label: string;
  shards: number;
  affectedShards: number;
  sends: number;
  acked: number;
  delivered: number;
  /** Refused or never answered. */
  failed: number;
  /** Ack p99 of every send written before the kill (ms). */
  normalP99: number;
  /** Worst send-to-ack wait in the dead node's shards, from 1 s before the kill (ms). */
  recoveryMs: number;
  /** The same in the shards of the surviving nodes, for contrast (ms). */
  othersWorstMs: number;
}

const wall = () => performance.timeOrigin + performance.now();

async function settledOwners(t: Target): Promise<{ shards: number; owned: number[][] }> {
  const until = Date.now() + 20_000;
  for (;;) {
    const o = await owners(t);
    const covered = new Set(o.owned.flat()).size === o.shards && o.owned.flat().length === o.shards;
    if (covered && o.owned.every((s) => s.length > 0)) return o;
    if (Date.now() > until) throw new Error(`shard ownership of ${t.label} did not settle: ${JSON.stringify(o.owned)}`);
    await sleep(200);
  }
}

export async function recovery(ctx: Ctx, t: Target): Promise<RecoveryResult> {
  const { convs, rate, beforeMs, afterMs } = ctx.plan.recovery;
  const victim = t.nodes.length - 1;
  const { shards, owned } = await settledOwners(t);
  const doomed = new Set(owned[victim]);
  const senders = await pairs(ctx, t, convs, "fo", (i, side) => (i + side) % victim);
  const plan = byWorker(ctx, senders, rate);

  let killAt = 0;
  const kill = setTimeout(() => { killAt = wall(); void t.nodes[victim].stop("SIGKILL"); }, beforeMs);
  const s = await ctx.pool.send("fo", plan.senders, plan.rates, { durationMs: beforeMs + afterMs, drainMs: 15_000, timeline: true });
  clearTimeout(kill);
  const d = await delivered(ctx, "fo", s.acked, ctx.plan.drainMs);
  await ctx.pool.closeAll();

  const normal = newHistogram();
  let recoveryMs = 0;
  let othersWorstMs = 0;
  s.timelines.forEach((timeline, w) => {
    const mine: Sender[] = plan.senders[w];
    timeline.forEach(([written, answered], i) => {
      if (answered <= 0) return;
      const wait = answered - written;
      if (written < killAt) recordMs(normal, wait);
      if (written < killAt - 1000) return;
      if (doomed.has(shardOf(mine[i % mine.length].conv, shards))) recoveryMs = Math.max(recoveryMs, wait);
      else othersWorstMs = Math.max(othersWorstMs, wait);
    });
  });
  return {
    label: t.label, shards, affectedShards: doomed.size,
    sends: s.sent, acked: s.acked, delivered: d.received, failed: s.sent - s.acked,
    normalP99: percentiles(normal).p99, recoveryMs, othersWorstMs,
  };
}
