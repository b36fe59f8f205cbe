/**
 * The machine's shared Redis and RabbitMQ, as the bench uses them: is each there, which
 * version is it, and removing everything a run created under its namespaces (they are
 * shared by everyone, so nothing else is ever touched and nothing is ever flushed).
 */
import { connect as amqpConnect } from "amqplib";
import { createClient } from "redis";
import { topology } from "../../src/broker/rabbitmq/topology.ts";
import { configuredUrl } from "../../test/services.ts";

export { answers } from "../../test/services.ts";

export const REDIS_URL = configuredUrl("REDIS_URL");
export const AMQP_URL = configuredUrl("AMQP_URL");

const redisClient = () => createClient({ url: REDIS_URL });

async function withRedis<T>(fn: (c: ReturnType<typeof redisClient>) => Promise<T>): Promise<T> {
  const client = redisClient();
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}

async function withAmqp<T>(fn: (conn: Awaited<ReturnType<typeof amqpConnect>>) => Promise<T>): Promise<T> {
  const conn = await amqpConnect(AMQP_URL);
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

export async function versions(): Promise<{ redis: string; rabbitmq: string }> {
  const redis = await withRedis(async (c) => (await c.info("server")).match(/redis_version:(\S+)/)?.[1] ?? "?").catch(() => "unreachable");
  const rabbitmq = await withAmqp(async (conn) => String((conn.connection as unknown as { serverProperties: { version: string } }).serverProperties.version)).catch(() => "unreachable");
  return { redis, rabbitmq };
}

/** Sizes of Redis sorted sets (ZCARD), for counting registered sessions. */
export function zcards(keys: string[]): Promise<number[]> {
  return withRedis((c) => Promise.all(keys.map((k) => c.zCard(k))));
}

/**
 * Deletes the Redis keys `<ns>:*` and the RabbitMQ objects of each namespace (shard
 * queues, exchanges, and `extraQueues`); per-node queues are exclusive and went with
 * their nodes.
 */
export async function dropNamespaces(namespaces: string[], shards: number, extraQueues: string[] = []): Promise<void> {
  if (namespaces.length === 0 && extraQueues.length === 0) return;
  await withRedis(async (c) => {
    for (const ns of namespaces) {
      for await (const keys of c.scanIterator({ MATCH: `${ns}:*`, COUNT: 1000 })) if (keys.length > 0) await c.del(keys);
    }
  });
  await withAmqp(async (conn) => {
    const ch = await conn.createChannel();
    for (const ns of namespaces) {
      const t = topology({ namespace: ns, shards, queueType: "quorum" });
      for (const q of t.queues) await ch.deleteQueue(q.name);
      for (const e of t.exchanges) await ch.deleteExchange(e.name);
    }
    for (const q of extraQueues) await ch.deleteQueue(q);
    await ch.close();
  });
}
