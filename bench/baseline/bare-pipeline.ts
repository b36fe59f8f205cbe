/**
 * The floor's cluster mode (bare-bun.ts with BARE_AMQP_URL): duplex's RabbitMQ hops and nothing
 * else, on duplex's own topology (src/broker/rabbitmq/topology.ts). A send is published,
 * persistent and confirmed, through the ingress exchange to its conversation's shard queue
 * (quorum, single active consumer); the shard's owner numbers it from a counter in memory,
 * joins what one event-loop turn received, every owned shard's, into one
 * transient fanout message, and acks the batch once that message is confirmed; every node
 * hears it on its own exclusive queue. Shards are owned by index (shard mod nodes), with
 * no standbys, no hand-off and no retries: the least a node can do and still keep duplex's
 * order and its hops.
 *
 * With `redisUrl`, each batch is also stored before it is fanned out, as an ack that means
 * stored requires: one RPUSH of the batch to one list, the least a store can be asked.
 */
import { type ConsumeMessage, connect } from "amqplib";
import { createClient } from "redis";
import { coalesceWrites } from "../../src/broker/rabbitmq/connection.ts";
import { names, nodeQueue, topology } from "../../src/broker/rabbitmq/topology.ts";
import { shardOf } from "../../src/broker/shard.ts";

export interface Submitted {
  conv: string;
  id: string;
  from: { user: string; device: string };
  body: unknown;
  /** The node the sender's socket is on, and its number for the send there. */
  origin: number;
  ref: number;
}

export interface Heard extends Submitted {
  seq: number;
}

export interface PipelineOptions {
  url: string;
  namespace: string;
  node: number;
  nodes: number;
  shards: number;
  redisUrl?: string;
}

/** Connects and declares; resolves with `submit` once this node consumes its shards. */
export async function pipeline(o: PipelineOptions, heard: (items: Heard[]) => void): Promise<(s: Submitted) => void> {
  const n = names(o.namespace);
  const conn = await connect(o.url, { noDelay: true });
  // The broker link's own write coalescing, as on a duplex node.
  coalesceWrites((conn.connection as unknown as { stream: Parameters<typeof coalesceWrites>[0] }).stream);
  const pub = await conn.createConfirmChannel();
  const t = topology({ namespace: o.namespace, shards: o.shards, queueType: "quorum" });
  for (const e of t.exchanges) await pub.assertExchange(e.name, e.type, { durable: e.durable });
  for (const q of t.queues) await pub.assertQueue(q.name, { durable: q.durable, arguments: q.arguments });
  for (const b of t.bindings) await pub.bindQueue(b.destination, b.source, b.routingKey);

  const own = nodeQueue(o.namespace, `bare-${o.node}`);
  const listener = await conn.createChannel();
  await listener.assertQueue(own.name, { durable: own.durable, exclusive: own.exclusive, arguments: own.arguments });
  await listener.bindQueue(own.name, n.fanout, "");
  await listener.consume(own.name, (msg) => msg && heard(JSON.parse(msg.content.toString())), { noAck: true });

  const redis = o.redisUrl ? createClient({ url: o.redisUrl }).on("error", (err) => console.error(`bare floor: Redis: ${err}`)) : null;
  await redis?.connect();
  const log = `${o.namespace}:bare:log`;
  const seqs = new Map<string, number>();
  /** The batches of one turn as JSON without brackets, each with the ack it waits to send. */
  let turn: { json: string; ack: () => void }[] = [];
  const fanOut = (json: string, ack: () => void) => {
    if (turn.length === 0) {
      queueMicrotask(() => {
        const joined = turn;
        turn = [];
        pub.publish(n.fanout, "", Buffer.from(`[${joined.map((j) => j.json).join(",")}]`), {}, (err) => {
          if (!err) for (const j of joined) j.ack();
        });
      });
    }
    turn.push({ json, ack });
  };
  for (let s = o.node; s < o.shards; s += o.nodes) {
    const ch = await conn.createChannel();
    await ch.prefetch(256);
    let batch: ConsumeMessage[] = [];
    await ch.consume(n.shard(s), (msg) => {
      if (!msg) return;
      if (batch.length === 0) {
        queueMicrotask(() => {
          const taken = batch;
          batch = [];
          const items = taken.map((m) => {
            const item = JSON.parse(m.content.toString()) as Heard;
            item.seq = (seqs.get(item.conv) ?? 0) + 1;
            seqs.set(item.conv, item.seq);
            return JSON.stringify(item);
          });
          const ack = () => ch.ack(taken[taken.length - 1], true);
          // One reply per batch, in the order sent: the shard's batches stay in order.
          if (redis) void redis.rPush(log, items).then(() => fanOut(items.join(","), ack));
          else fanOut(items.join(","), ack);
        });
      }
      batch.push(msg);
    });
  }
  return (s) => {
    pub.publish(n.ingress, String(shardOf(s.conv, o.shards)), Buffer.from(JSON.stringify(s)), { persistent: true, mandatory: true });
  };
}
