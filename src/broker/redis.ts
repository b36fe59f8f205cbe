/**
 * The broker for clusters that have Redis but no RabbitMQ. There are no shard owners:
 * every node sequences the `send`s it receives itself — Redis's atomic append script
 * (src/store/redis/scripts.ts) gives each conversation its gap-free order whichever node
 * writes — and publishes the sequenced messages on one pub/sub channel,
 * `${namespace}:fanout`, that every node (itself included) delivers from. Control events
 * travel on the same channel.
 *
 * What this gives up against rabbitmq/:
 * - Order across nodes: two nodes writing one conversation at once may publish seq 8
 *   before seq 7. Per-conversation order at delivery is the hub's job (it fills a gap
 *   from the store before emitting what follows). One node's own submissions are
 *   sequenced one batch at a time and published in that order.
 * - Durability of the fan-out: Redis pub/sub is at-most-once. A node whose subscriber
 *   connection drops misses what was published meanwhile (it reports not ready until it
 *   is back); devices recover with `sync`, and the next message of a conversation makes
 *   the hub fill the gap. The message itself is stored before it is published.
 * - Shards: none are owned, so `status().owned` is always [] (`shards` is reported as
 *   configured, for the health endpoint).
 *
 * Round trips per batch of submissions: one for the append (however many messages and
 * conversations the batch holds), one PUBLISH for the whole batch.
 *
 * A poison message (src/broker/poison.ts) is refused to its sender and the rest of its
 * batch goes on. Nothing keeps it: no durable queue held it, and its sender still has it.
 */
import { asDuplexError, DuplexError, duplexError } from "../core/errors.ts";
import { type Logger, unreadableFields } from "../core/log.ts";
import { serialise } from "../core/protocol.ts";
import { connectRedis, type RedisLink } from "../redis/connection.ts";
import type { Broker, BrokerHandlers, BrokerStatus, ControlEvent, SendRequest, Sequenced } from "../core/ports/broker.ts";
import { PendingSubmits } from "./pending.ts";
import { poisonReport, publishEach, sequenceEach } from "./poison.ts";

export interface RedisBrokerOptions {
  namespace: string;
  /** Reported by status(); nothing is sharded here. */
  shards: number;
  nodeId: string;
  /** Longest a submit waits to be sequenced and published before it rejects "unavailable". */
  sendTimeoutMs: number;
  log?: Logger;
}

/** What travels on the channel: a batch of sequenced messages, or one control event. */
type Envelope = { items: Sequenced[] } | { control: ControlEvent };

/** Largest batch handed to the store and published at once. */
const BATCH = 256;

export function redisBroker(url: string, options: RedisBrokerOptions): Broker {
  return new RedisBroker(url, options);
}

class RedisBroker implements Broker {
  #url: string;
  #o: RedisBrokerOptions;
  #channel: string;
  #handlers: BrokerHandlers | null = null;
  #pub: RedisLink | null = null;
  #sub: RedisLink | null = null;
  #queue: SendRequest[] = [];
  #pending: PendingSubmits;
  #draining = false;

  constructor(url: string, options: RedisBrokerOptions) {
    this.#url = url;
    this.#o = options;
    this.#channel = `${options.namespace}:fanout`;
    this.#pending = new PendingSubmits(options.sendTimeoutMs);
  }

  /** Connects a publishing and a subscribing connection; rejects "unavailable" naming the URL if either fails. */
  async start(handlers: BrokerHandlers): Promise<void> {
    const log = this.#o.log;
    const pub = await connectRedis(this.#url, { label: "broker", log, timeoutMs: this.#o.sendTimeoutMs });
    let sub: RedisLink | undefined;
    try {
      sub = await connectRedis(this.#url, { label: "broker subscriber", log });
      this.#handlers = handlers;
      await sub.run((c) => c.subscribe(this.#channel, (text) => this.#receive(text)));
    } catch (err) {
      this.#handlers = null;
      await Promise.all([pub.close(), sub?.close()]);
      throw err;
    }
    this.#pub = pub;
    this.#sub = sub;
  }

  submit(request: SendRequest): Promise<Sequenced> {
    if (!this.#handlers || !this.status().ready) {
      return Promise.reject(duplexError("unavailable", "the broker is not connected to Redis; retry later"));
    }
    return this.#pending.wait(request.ref, request.origin, () => {
      this.#queue.push(request);
      if (this.#draining) return;
      // Start on the next microtask, so every submit of the current task joins the first batch.
      this.#draining = true;
      queueMicrotask(() => void this.#drain());
    });
  }

  async publish(event: ControlEvent): Promise<void> {
    const pub = this.#pub;
    if (!this.#handlers || !pub) throw duplexError("unavailable", "the broker is not running");
    const text = serialise({ control: event } satisfies Envelope, "a control event");
    await pub.run((c) => c.publish(this.#channel, text));
  }

  status(): BrokerStatus {
    const ready = this.#handlers !== null && !!this.#pub?.ready() && !!this.#sub?.ready();
    return { ready, owned: [], shards: this.#o.shards, reconnects: (this.#pub?.reconnects() ?? 0) + (this.#sub?.reconnects() ?? 0) };
  }

  async close(): Promise<void> {
    this.#handlers = null;
    this.#queue.splice(0);
    this.#pending.failAll("the broker is shutting down");
    const links = [this.#pub, this.#sub];
    this.#pub = this.#sub = null;
    await Promise.all(links.map((l) => l?.close()));
  }

  /** Sequences what is queued, one batch at a time, and publishes each batch in one PUBLISH. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && this.#handlers && this.#pub) {
      const handlers = this.#handlers;
      const pub = this.#pub;
      const batch = this.#queue.splice(0, BATCH).filter((r) => this.#pending.has(r.ref));
      if (batch.length === 0) continue;
      const refuse = (r: SendRequest, err: DuplexError) => {
        handlers.deadLettered?.(poisonReport(r, err));
        this.#pending.settle(r.ref, err);
      };
      try {
        const results = await sequenceEach(handlers.sequence, batch.map((r) => r.message));
        const items: Sequenced[] = [];
        batch.forEach((r, i) => {
          const result = results[i];
          if (result instanceof DuplexError) return refuse(r, result);
          items.push({ ...result, origin: r.origin, ref: r.ref });
        });
        const unsent = await publishEach(async (part) => {
          const text = serialise({ items: part } satisfies Envelope, "a batch of sequenced messages");
          await pub.run((c) => c.publish(this.#channel, text));
        }, items);
        for (const { item, error } of unsent) {
          refuse(item, duplexError("unprocessable", `stored as seq ${item.message.seq} of "${item.message.conv}", but ${error.message}`));
        }
        for (const item of items) this.#pending.settle(item.ref, item);
      } catch (err) {
        const failure = asDuplexError(err);
        for (const r of batch) this.#pending.settle(r.ref, failure);
      }
    }
    this.#draining = false;
  }

  #receive(text: string): void {
    const handlers = this.#handlers;
    if (!handlers) return;
    try {
      const envelope = JSON.parse(text) as Envelope;
      if ("items" in envelope) for (const item of envelope.items) handlers.deliver(item);
      else handlers.control(envelope.control);
    } catch (err) {
      this.#o.log?.error("fan-out message not delivered", { channel: this.#channel, ...unreadableFields(err, text.length) });
    }
  }
}
