/**
 * Metric 5: Redis commands and round trips, and AMQP publishes and deliveries, per
 * message, on a cluster whose nodes reach Redis and RabbitMQ through counting proxies
 * (count/proxies.ts). Pairs on different nodes send at a fixed rate; what the cluster
 * does while idle (heartbeats, announcements) is measured first over a quiet window and
 * subtracted in proportion to time.
 */
import type { CountingProxy, Counts } from "../count/proxies.ts";
import type { Target } from "../systems/targets.ts";
import { byWorker, type Ctx, delivered, pairs, sleep } from "./common.ts";

export interface RoundTripResult {
  id: string;
  label: string;
  rate: number;
  messages: number;
  /** Per message, background subtracted. */
  perMessage: Counts;
  /** The three most frequent Redis commands per message, e.g. "EVALSHA 1.00". */
  topCommands: string[];
  /** What the whole cluster does per second with no traffic (heartbeats, announcements, sweeps). */
  idlePerSecond: Counts;
}

const diff = (a: Counts, b: Counts): Counts => {
  const out: Counts = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) out[k] = (b[k] ?? 0) - (a[k] ?? 0);
  return out;
};

export async function roundTrips(ctx: Ctx, t: Target, proxies: { redis: CountingProxy; amqp?: CountingProxy }): Promise<RoundTripResult> {
  const { pairs: count, rate, durationMs, idleMs } = ctx.plan.roundTrips;
  const n = t.nodes.length;
  const senders = await pairs(ctx, t, count, "rt", (i, side) => (i + side) % n);
  const snapshot = (): Counts => {
    const out: Counts = {};
    for (const [k, v] of Object.entries(proxies.redis.counts())) out[k === "roundTrips" ? "redisRoundTrips" : k === "commands" ? "redisCommands" : k] = v;
    if (proxies.amqp) {
      const a = proxies.amqp.counts();
      out.amqpPublishes = a.publishes ?? 0;
      out.amqpDeliveries = a.deliveries ?? 0;
    }
    return out;
  };
  const idleStart = performance.now();
  const c0 = snapshot();
  await sleep(idleMs);
  const background = diff(c0, snapshot());
  const idleSpan = performance.now() - idleStart;

  const plan = byWorker(ctx, senders, rate);
  const busyStart = performance.now();
  const c1 = snapshot();
  const s = await ctx.pool.send("rt", plan.senders, plan.rates, { durationMs, drainMs: ctx.plan.drainMs });
  await delivered(ctx, "rt", s.sent, ctx.plan.drainMs);
  const busy = diff(c1, snapshot());
  const busySpan = performance.now() - busyStart;
  await ctx.pool.closeAll();

  const perMessage: Counts = {};
  for (const [k, v] of Object.entries(busy)) perMessage[k] = Math.max(0, v - ((background[k] ?? 0) * busySpan) / idleSpan) / Math.max(1, s.acked);
  const topCommands = Object.entries(perMessage)
    .filter(([k]) => k.startsWith("cmd "))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k.slice(4)} ${v.toFixed(2)}`);
  const idlePerSecond: Counts = {};
  for (const [k, v] of Object.entries(background)) idlePerSecond[k] = v / (idleSpan / 1000);
  return { id: t.id, label: t.label, rate, messages: s.acked, perMessage, topCommands, idlePerSecond };
}
