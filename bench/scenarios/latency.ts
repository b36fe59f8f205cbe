/**
 * Metric 3: end-to-end latency, one sender to another user's device, open-loop at fixed
 * rates. Pairs of users share a 1:1 conversation; on a cluster the two sockets of a pair
 * are on different nodes, so every message crosses the broker. Both sockets of a pair
 * live in the same load worker, so send and receive times come from one clock. A cluster
 * is measured first at the plan's floorRate, low enough to leave the machine mostly idle:
 * what the pipeline's hops take when nothing waits for CPU.
 */
import { percentiles, type Percentiles } from "../load/hist.ts";
import { cpuMeter, type CpuUse } from "../systems/cpu.ts";
import { gcMeter, type GcUse } from "../systems/gc.ts";
import type { Target } from "../systems/targets.ts";
import { byWorker, type Ctx, delivered, drain, pairs } from "./common.ts";
import { scrapeStages, type StageRow, stageRows } from "./stages.ts";

export interface LatencyResult {
  id: string;
  label: string;
  rate: number;
  sent: number;
  received: number;
  errors: number;
  e2e: Percentiles;
  ack: Percentiles;
  /** How late the load generator wrote its sends, p99 (ms): large means the client, not the server, lagged. */
  lagP99: number;
  /** duplex cluster only: one message's stages, read from the nodes' /metrics around the step. */
  stages?: StageRow[];
  /** CPU used during the measured step, in cores (single nodes too since 2026-12-05). */
  cpu?: CpuUse;
  /** JavaScriptCore's collections in the Bun servers during the step; null for other runtimes, absent before 2026-12-05. */
  gc?: GcUse | null;
}

export async function latency(ctx: Ctx, t: Target): Promise<LatencyResult[]> {
  const { warmMs, durationMs, floorRate } = ctx.plan.latency;
  const n = t.nodes.length;
  const rates = n > 1 && floorRate ? [floorRate, ...ctx.plan.latency.rates] : ctx.plan.latency.rates;
  const senders = await pairs(ctx, t, ctx.plan.latency.pairs, "l", (i, side) => (i + side) % n);
  const out: LatencyResult[] = [];
  for (const rate of rates) {
    const plan = byWorker(ctx, senders, rate);
    const warm = await ctx.pool.send(`w${rate}`, plan.senders, plan.rates, { durationMs: warmMs, drainMs: ctx.plan.drainMs });
    await delivered(ctx, `w${rate}`, warm.sent, ctx.plan.drainMs);
    const tag = `l${rate}`;
    const cluster = t.id.startsWith("duplex-cluster");
    const before = cluster ? await scrapeStages(t) : null;
    const meter = cpuMeter(t.nodes.map((node) => node.pid));
    const gcs = gcMeter(t.nodes);
    const s = await ctx.pool.send(tag, plan.senders, plan.rates, { durationMs, drainMs: ctx.plan.drainMs });
    const cpu = meter();
    const gc = gcs();
    const d = await delivered(ctx, tag, s.sent, ctx.plan.drainMs);
    const stages = before ? stageRows(before, await scrapeStages(t)) : undefined;
    if (s.acked === 0 || d.received === 0) throw new Error(`${t.label} acked ${s.acked} and delivered ${d.received} of ${s.sent} messages: it is not working`);
    out.push({
      id: t.id, label: t.label, rate, sent: s.sent, received: d.received,
      errors: s.sent - s.acked,
      e2e: percentiles(d.latency), ack: percentiles(s.ack), lagP99: percentiles(s.lag).p99, stages, cpu, gc,
    });
    const r = out.at(-1)!;
    const kept = r.received >= ctx.plan.passDelivered * r.sent && r.errors === 0 && r.e2e.p99 <= ctx.plan.passP99Ms;
    ctx.say(`  ${t.label}: ${rate}/s → p50 ${r.e2e.p50.toFixed(2)} ms, p99 ${r.e2e.p99.toFixed(2)} ms${kept ? "" : " (not sustained: higher rates skipped)"}`);
    if (!kept) {
      await drain(ctx, tag);
      break;
    }
  }
  await ctx.pool.closeAll();
  return out;
}
