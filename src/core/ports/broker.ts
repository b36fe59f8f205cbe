/**
 * The broker moves `send`s to the one place that sequences their conversation and moves
 * sequenced messages to every node. src/broker/memory.ts does it in the process (one node);
 * src/broker/redis.ts and src/broker/rabbitmq/ across a cluster. All pass the suite in
 * test/broker/.
 *
 * A broker stores through `sequence` (the store's append) and `countDelivery`, and calls
 * back into the hub through `deliver`, `control` and `deadLettered`; it imports neither.
 * src/main.ts wires them.
 */
import type { ErrorCode } from "../errors.ts";
import type { Stage } from "../stages.ts";
import type { Appended, NewMessage } from "./store.ts";

export interface SendRequest {
  /** Node that received the `send` and will answer the client. */
  origin: string;
  /** Chosen by the origin to match the result to its waiting client; opaque here. */
  ref: string;
  message: NewMessage;
  /** When the origin submitted it (stamp() in src/core/stages.ts), for the stage metrics. */
  sentAt?: number;
}

/** A message after sequencing, as fanned out to every node. */
export interface Sequenced extends Appended {
  origin: string;
  ref: string;
  /** When its shard's owner had it stored (stamp()), for the stage metrics. */
  sequencedAt?: number;
  /** When the origin heard it back (stamp()), for the stage metrics; never sent. */
  heardAt?: number;
}

/** A message refused for good (src/broker/poison.ts), as far as it could be read. */
export interface PoisonReport {
  conv?: string;
  id?: string;
  user?: string;
  /** The shard queue it came from (RabbitMQ). */
  shard?: number;
  code: ErrorCode;
  error: string;
}

/** Node-to-node events that are not messages. Every node hears every event. */
export type ControlEvent =
  /** Close session `session` on node `node`: its user+device connected elsewhere. */
  | { type: "kick"; node: string; session: string }
  /** User marked conv read up to seq on one device; tell their other devices. */
  | { type: "read"; conv: string; user: string; device: string; seq: number };

export interface BrokerHandlers {
  /**
   * Sequences and stores a batch of one shard: MessageStore.append itself. Called on the node
   * that owns the shard, never concurrently for one shard, in submission order. Redelivery
   * after a failover may repeat requests, so it must be idempotent (it is: append is).
   */
  sequence(messages: NewMessage[]): Promise<Appended[]>;
  /**
   * Called on every node for every sequenced message, in increasing seq per conversation,
   * except where a batch's fanout publish failed and was retried behind the next batch (a
   * pipelined RabbitMQ shard): the hub fills such a gap from the store before it emits.
   * At-least-once: after a failover the same seq may arrive twice; the hub drops repeats.
   * A resend comes back as its original (duplicate: true, an older seq), and is fanned out
   * too: its first fan-out may have been lost, and the origin answers its client from it.
   */
  deliver(item: Sequenced): void;
  /**
   * How long one message spent in one stage of the cluster pipeline, in ms
   * (src/core/stages.ts). Brokers that have no such stage never call it.
   */
  stage?(stage: Stage, ms: number): void;
  /** Called on every node for every control event (at-most-once: best effort). */
  control(event: ControlEvent): void;
  /**
   * A poison message (src/broker/poison.ts) was refused to its sender and set aside, on
   * the node that found it: RabbitMQ's shard owner moves it to the dead-letter queue; the
   * brokers without a durable queue drop it from the pipeline once its sender is told.
   */
  deadLettered?(report: PoisonReport): void;
  /** MessageStore.countDelivery: how a classic shard queue's owner bounds redeliveries. */
  countDelivery?(ref: string): Promise<number>;
}

export interface BrokerStatus {
  /** Connected and consuming: this node may take traffic. */
  ready: boolean;
  /**
   * Shards this node sequences. Across a cluster: the shards the live nodes' membership
   * assigns it; RabbitMQ (3.10) does not say which consumer of a queue is active, so
   * during a hand-off another node may still finish a batch of one of them.
   */
  owned: number[];
  shards: number;
  /** How many times the connection came back after it was lost (0 in process). */
  reconnects: number;
}

export interface Broker {
  /** Declares what it needs, starts consuming, and begins calling `handlers`. */
  start(handlers: BrokerHandlers): Promise<void>;
  /**
   * Resolves once the message is sequenced and stored (and fanned out), with the stored
   * message; a repeat resolves with the original (duplicate: true). Rejects with
   * DuplexError("unavailable") when that cannot be confirmed within a bounded time; the
   * message may then still have been stored, which an idempotent resend settles.
   */
  submit(request: SendRequest): Promise<Sequenced>;
  /** Sends a control event to every node, this one included. */
  publish(event: ControlEvent): Promise<void>;
  status(): BrokerStatus;
  /**
   * Messages waiting in the namespace's dead-letter queue, for /metrics; null while that
   * cannot be asked. Only brokers that keep dead letters (RabbitMQ) have it.
   */
  deadLetters?(): Promise<number | null>;
  /** Stops consuming and hands owned shards over; pending submits reject "unavailable". */
  close(): Promise<void>;
}
