/**
 * The RabbitMQ objects of one duplex namespace. Nodes declare from this module and the
 * CLI renders definitions.json from it, so the two can never disagree.
 */
export type QueueType = "quorum" | "classic";

export interface TopologyOptions {
  namespace: string;
  shards: number;
  queueType: QueueType;
  /** x-delivery-limit of quorum shard queues; default DELIVERY_LIMIT. */
  deliveryLimit?: number;
}

export interface ExchangeDef {
  name: string;
  type: "direct" | "fanout";
  durable: boolean;
}
export interface QueueDef {
  name: string;
  durable: boolean;
  arguments: Record<string, string | number | boolean>;
}
export interface BindingDef {
  source: string;
  destination: string;
  routingKey: string;
}
export interface Topology {
  exchanges: ExchangeDef[];
  /** The shard queues and the dead-letter queue; per-node queues are declared at run time (they die with the node). */
  queues: QueueDef[];
  bindings: BindingDef[];
}

export const names = (namespace: string) => ({
  /** Direct exchange a node publishes `send`s to, routed by shard number. */
  ingress: `${namespace}.ingress`,
  /** Fanout exchange every node's own queue is bound to. */
  fanout: `${namespace}.fanout`,
  shard: (i: number) => `${namespace}.shard.${i}`,
  /** A node's own fanout queue: exclusive, gone when the node's connection is. */
  node: (id: string) => `${namespace}.node.${id}`,
  /**
   * Fanout exchange the shard queues dead-letter to, and the one queue bound to it: poison
   * messages wait there, with their shard as routing key, for an operator to look at.
   */
  deadLetter: `${namespace}.dead-letter`,
});

/**
 * Returns of one message to its shard queue before it is dead-lettered instead of delivered
 * again (x-delivery-limit on quorum queues; counted by the owner on classic ones). Every
 * return counts: a node that died holding it, but also a hand-off or a lost connection
 * while it waited in a batch, so the bound leaves room for those; a message that takes its
 * owner down every time is set aside after this many, with whatever was returned with it
 * as often (their senders, never acked, resend them).
 */
export const DELIVERY_LIMIT = 20;

export function topology({ namespace, shards, queueType, deliveryLimit = DELIVERY_LIMIT }: TopologyOptions): Topology {
  const n = names(namespace);
  const queues: QueueDef[] = [];
  const bindings: BindingDef[] = [];
  // Classic queues count no deliveries (RabbitMQ 3.10): their owner counts redeliveries in
  // the store instead (src/broker/rabbitmq/shard-work.ts), to the same limit.
  const limit: QueueDef["arguments"] = queueType === "quorum" ? { "x-delivery-limit": deliveryLimit } : {};
  for (let i = 0; i < shards; i++) {
    queues.push({
      name: n.shard(i),
      durable: true,
      arguments: { "x-queue-type": queueType, "x-single-active-consumer": true, "x-dead-letter-exchange": n.deadLetter, ...limit },
    });
    bindings.push({ source: n.ingress, destination: n.shard(i), routingKey: String(i) });
  }
  queues.push({ name: n.deadLetter, durable: true, arguments: { "x-queue-type": queueType } });
  bindings.push({ source: n.deadLetter, destination: n.deadLetter, routingKey: "" });
  return {
    exchanges: [
      { name: n.ingress, type: "direct", durable: true },
      { name: n.fanout, type: "fanout", durable: true },
      { name: n.deadLetter, type: "fanout", durable: true },
    ],
    queues,
    bindings,
  };
}

/**
 * A node's own queue, declared at run time and never rendered into definitions.json:
 * exclusive, so it is deleted with the connection that declared it and a dead node's
 * queue cannot fill up with broadcasts nobody reads.
 */
export function nodeQueue(namespace: string, nodeId: string): QueueDef & { exclusive: true } {
  return { name: names(namespace).node(nodeId), durable: false, exclusive: true, arguments: { "x-queue-type": "classic" } };
}
