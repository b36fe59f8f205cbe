/**
 * Metrics 1 and 2: idle authenticated connections held, memory per connection (RSS of
 * the server processes, no forced GC), and the connect rate — upgrade, token check and
 * welcome, and on a cluster until every session is registered in Redis.
 *
 * The connections open in two parts, a third and then the rest, with the RSS read after
 * each. A runtime pays some memory once, whatever the count, when a burst of handshakes
 * first comes: V8 grows its young generation to its maximum and keeps it mapped. Divided
 * by the count, that cost made a connection look dearer the fewer were opened (duplex on
 * Node: 8.3 KiB at 5,000, 6.4 at 10,000, 6.0 at 15,000). What the rest add, with that paid,
 * is what one more connection costs: the marginal figure the targets read.
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
  /** After the first part, `firstPart` connections. */
  rssMid?: number;
  firstPart?: number;
  rssAfter: number;
  /** The whole growth over the count: fixed costs included. */
  bytesPerConn: number;
  /** The growth over the second part, per connection of it; absent from runs before 2026-12-05. */
  marginalBytesPerConn?: number;
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

  const firstPart = Math.round(conns / 3);
  const all = devices(ctx, t, "idle", conns);
  const parts = [await part(ctx, t, all.slice(0, firstPart), concurrency, namespace)];
  await sleep(settleMs);
  const rssMid = rss();
  parts.push(await part(ctx, t, all.slice(firstPart), concurrency, namespace, conns));
  await sleep(settleMs);
  const rssAfter = rss();
  await whileHeld?.();
  await ctx.pool.closeAll();
  const ms = parts[0].ms + parts[1].ms;
  const handshake = parts[0].summary.handshake;
  handshake.add(parts[1].summary.handshake);
  return {
    id: t.id, label: t.label, conns, rssBefore, rssMid, firstPart, rssAfter,
    bytesPerConn: (rssAfter - rssBefore) / conns,
    marginalBytesPerConn: (rssAfter - rssMid) / (conns - firstPart),
    connectRate: conns / ((parts[0].summary.ms + parts[1].summary.ms) / 1000),
    handshake: percentiles(handshake),
    registeredRate: namespace ? conns / (ms / 1000) : undefined,
  };
}

/**
 * Opens `devs` and, on a cluster (`namespace`), waits until `registered` sessions (all that
 * are open by then) are in Redis; `ms` runs to that moment.
 */
async function part(ctx: Ctx, t: Target, devs: Device[], concurrency: number, namespace?: string, registered = devs.length) {
  const { summary } = await openDevices(ctx, t, devs, concurrency);
  const opened = performance.now();
  if (namespace) {
    const keys = redisKeys(namespace);
    const until = Date.now() + 30_000;
    while ((await zcards(t.nodes.map((n) => keys.nodeSessions(n.name)))).reduce((a, b) => a + b, 0) < registered) {
      if (Date.now() > until) throw new Error(`not every session of ${t.label} was registered in Redis within 30 s`);
      await sleep(20);
    }
  }
  return { summary, ms: summary.ms + performance.now() - opened };
}
