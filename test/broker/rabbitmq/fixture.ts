/**
 * Broker instances over one namespace of a real RabbitMQ, each with handlers of its own
 * backed by one shared MemoryMessageStore: several nodes sharing a store, in one process.
 */
import { connect } from "amqplib";
import type { BrokerHandlers, ControlEvent, Sequenced } from "../../../src/core/ports/broker.ts";
import { rabbitmqBroker } from "../../../src/broker/rabbitmq/broker.ts";
import type { RabbitmqBrokerOptions } from "../../../src/broker/rabbitmq/options.ts";
import { names, topology } from "../../../src/broker/rabbitmq/topology.ts";
import { createLogger } from "../../../src/core/log.ts";
import type { MessageStore, NewMessage } from "../../../src/core/ports/store.ts";
import { amqpUrl } from "../../services.ts";

export const AMQP_URL = await amqpUrl();

export { testNamespace } from "../../harness.ts";

export interface TestNode {
  id: string;
  broker: ReturnType<typeof rabbitmqBroker>;
  delivered: Sequenced[];
  controls: ControlEvent[];
  /** Every message this node's handlers were asked to sequence, in call order. */
  sequenced: NewMessage[];
}

/** A broker with handlers that record what they are given; not started. */
export function testNode(
  url: string,
  store: MessageStore,
  options: Partial<RabbitmqBrokerOptions> & { namespace: string },
): TestNode & { handlers: BrokerHandlers } {
  const id = options.nodeId ?? `n-${crypto.randomUUID().slice(0, 6)}`;
  const log = createLogger(process.env.TEST_LOG === "1" ? "debug" : "error", { node: id });
  const broker = rabbitmqBroker(url, { shards: 8, queueType: "quorum", sendTimeoutMs: 10_000, log, ...options, nodeId: id });
  const node: TestNode & { handlers: BrokerHandlers } = {
    id, broker, delivered: [], controls: [], sequenced: [],
    handlers: {
      sequence: async (messages) => {
        node.sequenced.push(...messages);
        return store.append(messages);
      },
      deliver: (item) => node.delivered.push(item),
      control: (event) => node.controls.push(event),
    },
  };
  return node;
}

/** Deletes every exchange and queue of a namespace (the per-node queues die with their nodes). */
export async function deleteNamespace(url: string, namespace: string, shards: number): Promise<void> {
  const conn = await connect(url);
  try {
    const ch = await conn.createChannel();
    const t = topology({ namespace, shards, queueType: "quorum" });
    for (const q of t.queues) await ch.deleteQueue(q.name);
    for (const e of t.exchanges) await ch.deleteExchange(e.name);
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** Consumers currently on a namespace's shard queue (passive declare). */
export async function consumerCount(url: string, namespace: string, shard: number): Promise<number> {
  const conn = await connect(url);
  try {
    const ch = await conn.createChannel();
    return (await ch.checkQueue(names(namespace).shard(shard))).consumerCount;
  } finally {
    await conn.close();
  }
}

/** Polls `predicate` every 20 ms (calling `poke` first, if given) until it holds. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 20_000, poke?: () => void): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    poke?.();
    if (predicate()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, poke ? 200 : 20));
  }
}

/** Per conversation, the seqs a node was given, in arrival order, repeats dropped (the hub's rule). */
export function deliveredSeqs(node: TestNode): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const item of node.delivered) {
    const seqs = out.get(item.message.conv) ?? [];
    if (seqs.length === 0 || item.message.seq > seqs[seqs.length - 1]) seqs.push(item.message.seq);
    out.set(item.message.conv, seqs);
  }
  return out;
}
