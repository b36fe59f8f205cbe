/**
 * Metrics 1 and 2: idle authenticated connections held, memory per connection (RSS of
 * the server processes before and after, no forced GC), and the connect rate — upgrade,
 * token check and welcome, and on a cluster until every session is registered in Redis.
 */
import { percentiles, type Percentiles } from "../load/hist.ts";
import { redisKeys } from "../../src/store/redis/keys.ts";
import { zcards } from "../systems/services.ts";
import { rssBytes } from "../systems/spawn.ts";
import type { Target } from "../systems/targets.ts";
import { type Ctx, type Device, openDevices, sleep } from "./common.ts";

export interface IdleResult {
  id: string;
  label: string;
  conns: number;
  rssBefore: number;
  rssAfter: number;
  bytesPerConn: number;
  /** Connections per second, upgrade to welcome. */
  connectRate: number;
  handshake: Percentiles;
  /** Cluster only: connections per second until every session was in Redis. */
  registeredRate?: number;
}

const devices = (ctx: Ctx, t: Target, prefix: string, n: number): Device[] =>
  Array.from({ length: n }, (_, i) => ({ user: `${prefix}${i}`, device: "d", node: i % t.nodes.length, worker: i % ctx.pool.size }));

/**
 * `namespace`: the cluster's, whose per-node session indexes show registration; `whileHeld`
 * runs with every connection still open, after the RSS is read.
 */
export async function idle(ctx: Ctx, t: Target, namespace?: string, whileHeld?: () => Promise<void>): Promise<IdleResult> {
  const { conns, warm, concurrency, settleMs } = ctx.plan.idle;
  const rss = () => t.nodes.reduce((sum, n) => sum + rssBytes(n.pid), 0);
  // A first round of connections warms up code paths and allocator pools, so that the
  // difference below is the connections' and not the first connection's.
  await openDevices(ctx, t, devices(ctx, t, "warm", warm), concurrency);
  await ctx.pool.closeAll();
  await sleep(settleMs);
  const rssBefore = rss();

  const { summary: r } = await openDevices(ctx, t, devices(ctx, t, "idle", conns), concurrency);
  const opened = performance.now();
  let registeredRate: number | undefined;
  if (namespace) {
    const keys = redisKeys(namespace);
    const until = Date.now() + 30_000;
    while ((await zcards(t.nodes.map((n) => keys.nodeSessions(n.name)))).reduce((a, b) => a + b, 0) < conns) {
      if (Date.now() > until) throw new Error(`not every session of ${t.label} was registered in Redis within 30 s`);
      await sleep(20);
    }
    registeredRate = conns / ((r.ms + performance.now() - opened) / 1000);
  }
  await sleep(settleMs);
  const rssAfter = rss();
  await whileHeld?.();
  await ctx.pool.closeAll();
  return {
    id: t.id, label: t.label, conns, rssBefore, rssAfter,
    bytesPerConn: (rssAfter - rssBefore) / conns,
    connectRate: conns / (r.ms / 1000),
    handshake: percentiles(r.handshake),
    registeredRate,
  };
}
