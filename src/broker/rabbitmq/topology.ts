/**
 * The RabbitMQ objects of one duplex namespace. Nodes declare from this module and the
 * CLI renders definitions.json from it, so the two can never disagree.
 */
export type QueueType = "quorum" | "classic";

export interface TopologyOptions {
  namespace: string;
  shards: number;
  queueType: QueueType;
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
  /** The shard queues; per-node queues are declared at run time (they die with the node). */
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
});

export function topology({ namespace, shards, queueType }: TopologyOptions): Topology {
  const n = names(namespace);
  const queues: QueueDef[] = [];
  const bindings: BindingDef[] = [];
  for (let i = 0; i < shards; i++) {
    queues.push({
      name: n.shard(i),
      durable: true,
      arguments: { "x-queue-type": queueType, "x-single-active-consumer": true },
    });
    bindings.push({ source: n.ingress, destination: n.shard(i), routingKey: String(i) });
  }
  return {
    exchanges: [
      { name: n.ingress, type: "direct", durable: true },
      { name: n.fanout, type: "fanout", durable: true },
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
