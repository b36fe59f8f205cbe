/**
 * What every scenario shares: opening devices (each placed on a node and a load worker),
 * pairs of users in 1:1 conversations, splitting a rate over the workers, and waiting
 * until the deliveries of a load step have arrived or a backlog has drained.
 */
import type { Conn, Sender } from "../load/commands.ts";
import type { Histogram } from "../load/hist.ts";
import type { OpenSummary, Pool } from "../load/pool.ts";
import type { Plan } from "../plan.ts";
import type { Target } from "../systems/targets.ts";

export interface Ctx {
  pool: Pool;
  plan: Plan;
  /** A progress line for the person watching. */
  say(line: string): void;
}

export interface Device {
  user: string;
  device: string;
  /** Index of the node its socket goes to. */
  node: number;
  worker: number;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let keys = 0;

/** Opens one socket per device; returns each device's key, in order, and how the opening went. */
export async function openDevices(ctx: Ctx, t: Target, devices: Device[], concurrency = 32): Promise<{ keys: string[]; summary: OpenSummary }> {
  const perWorker: Conn[][] = Array.from({ length: ctx.pool.size }, () => []);
  const out = devices.map((d) => {
    const key = `k${keys++}`;
    perWorker[d.worker].push({ key, base: t.bases[d.node], user: d.user, device: d.device });
    return key;
  });
  const summary = await ctx.pool.open(t.proto, t.secret, perWorker, { concurrency, timeoutMs: 15_000 });
  if (summary.failed > 0) throw new Error(`${summary.failed} of ${devices.length} sockets to ${t.label} did not open: ${summary.firstError}`);
  return { keys: out, summary };
}

/** Senders grouped by the worker that holds their socket, and each worker's share of `rate`. */
export function byWorker(ctx: Ctx, senders: (Sender & { worker: number })[], rate: number): { senders: Sender[][]; rates: number[] } {
  const grouped: Sender[][] = Array.from({ length: ctx.pool.size }, () => []);
  for (const s of senders) grouped[s.worker].push({ key: s.key, conv: s.conv });
  return { senders: grouped, rates: grouped.map((g) => (rate * g.length) / senders.length) };
}

/**
 * Polls the workers until `expected` deliveries of `tag` arrived, or none arrived for a
 * second, or `maxWaitMs` passed; then takes (and resets) the tag's tally.
 */
export async function delivered(ctx: Ctx, tag: string, expected: number, maxWaitMs: number): Promise<{ received: number; latency: Histogram; dropped: number }> {
  const until = Date.now() + maxWaitMs;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const { received } = await ctx.pool.collect(tag, false);
    if (received !== last) { last = received; lastChange = Date.now(); }
    if (received >= expected || Date.now() > until || Date.now() - lastChange > 1000) break;
    await sleep(100);
  }
  return ctx.pool.collect(tag, true);
}

/** After an overloaded step: waits (up to 30 s) until deliveries stop, so the backlog does not spill into what is measured next. */
export async function drain(ctx: Ctx, tag: string): Promise<void> {
  await delivered(ctx, tag, Number.POSITIVE_INFINITY, 30_000);
}

/**
 * `count` 1:1 conversations, sender `${prefix}s<i>` and receiver `${prefix}r<i>`, both
 * sockets of a pair in one worker (one clock for send and receive); `nodeOf` places
 * each side. Returns the senders.
 */
export async function pairs(ctx: Ctx, t: Target, count: number, prefix: string, nodeOf: (i: number, side: 0 | 1) => number): Promise<(Sender & { worker: number })[]> {
  const W = ctx.pool.size;
  const convs = await t.conversations(Array.from({ length: count }, (_, i) => [`${prefix}s${i}`, `${prefix}r${i}`]));
  const { keys } = await openDevices(ctx, t, Array.from({ length: count }, (_, i) => [
    { user: `${prefix}s${i}`, device: "a", node: nodeOf(i, 0), worker: i % W },
    { user: `${prefix}r${i}`, device: "b", node: nodeOf(i, 1), worker: i % W },
  ]).flat());
  return convs.map((conv, i) => ({ key: keys[2 * i], conv, worker: i % W }));
}
