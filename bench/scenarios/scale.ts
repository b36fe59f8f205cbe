/**
 * Scale on one machine: the plan's idle connections (45,000 in the full run) held by a
 * cluster of three nodes with Redis and RabbitMQ — a third on each node, under its
 * descriptor limit, and spread over the load processes for theirs. Reports each node's
 * RSS, Redis memory per registered session, the connect rate until every session is in
 * Redis, and, at that size, how long the cluster takes to notice a node's death: from a
 * SIGKILL until the dead node's sessions are gone from the store (swept by the others),
 * which is when presence stops showing its users online.
 */
import { createClient } from "redis";
import { redisKeys } from "../../src/store/redis/keys.ts";
import { REDIS_URL, zcards } from "../systems/services.ts";
import { rssBytes } from "../systems/spawn.ts";
import type { Target } from "../systems/targets.ts";
import type { Ctx } from "./common.ts";
import { idle, type IdleResult } from "./idle.ts";
import { sleep } from "./common.ts";

export interface ScaleResult extends IdleResult {
  nodes: number;
  /** RSS of each node with every connection open. */
  rssPerNode: number[];
  /** Redis memory (MEMORY USAGE, summed over the namespace's keys) per registered session. */
  redisBytesPerSession: number;
  /** From a SIGKILL of one node until its sessions were gone from Redis; null if not within the bound. */
  deathNoticedMs: number | null;
  /** How long the run waited for that at most. */
  deathBoundMs: number;
}

/** How long a dead node's sessions may take to go: the sweep's bound (2 h) and a margin. */
const deathBound = (heartbeatMs: number) => 2 * heartbeatMs + 15_000;

export async function scale(ctx: Ctx, t: Target, namespace: string, heartbeatMs: number): Promise<ScaleResult> {
  const conns = ctx.plan.scale!.conns;
  const keys = redisKeys(namespace);
  let rssPerNode: number[] = [];
  let redisBytesPerSession = 0;
  let deathNoticedMs: number | null = null;
  const bound = deathBound(heartbeatMs);
  const held = await idle({ ...ctx, plan: { ...ctx.plan, idle: { ...ctx.plan.idle, conns } } }, t, namespace, async () => {
    rssPerNode = t.nodes.map((n) => rssBytes(n.pid));
    redisBytesPerSession = (await namespaceBytes(namespace)) / conns;
    ctx.say(`  ${conns} sessions held; RSS per node ${rssPerNode.map((b) => (b / 2 ** 20).toFixed(0)).join(", ")} MiB; SIGKILL of ${t.nodes[2].name}`);
    const dead = t.nodes[2];
    const killed = performance.now();
    await dead.stop("SIGKILL");
    const until = killed + bound;
    while (performance.now() < until) {
      const [left] = await zcards([keys.nodeSessions(dead.name)]);
      if (left === 0) {
        deathNoticedMs = performance.now() - killed;
        break;
      }
      await sleep(250);
    }
  });
  return { ...held, nodes: t.nodes.length, rssPerNode, redisBytesPerSession, deathNoticedMs, deathBoundMs: bound };
}

async function namespaceBytes(namespace: string): Promise<number> {
  const redis = createClient({ url: REDIS_URL });
  redis.on("error", () => {});
  await redis.connect();
  try {
    let total = 0;
    for await (const batch of redis.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) {
      const sizes = await Promise.all(batch.map((k) => redis.memoryUsage(k, { SAMPLES: 0 })));
      total += sizes.reduce<number>((a, b) => a + (b ?? 0), 0);
    }
    return total;
  } finally {
    redis.destroy();
  }
}
