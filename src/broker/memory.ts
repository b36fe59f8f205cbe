/**
 * The in-process broker: the cluster design on one node. Conversations hash to shards;
 * each shard sequences strictly one batch after another, shards run concurrently, and
 * every sequenced message is fanned out to delivery. RabbitMQ replaces the queues, not
 * the shape. A poison message is refused to its sender and the shard goes on; nothing
 * keeps it, as nothing here outlives the process and its sender still has it.
 */
import { asDuplexError, DuplexError, duplexError } from "../core/errors.ts";
import type { Broker, BrokerHandlers, BrokerStatus, ControlEvent, SendRequest, Sequenced } from "../core/ports/broker.ts";
import type { NewMessage } from "../core/ports/store.ts";
import { PendingSubmits } from "./pending.ts";
import { poisonReport, sequenceEach } from "./poison.ts";
import { shardOf } from "./shard.ts";

/** Largest batch one shard hands to the store at once. */
const BATCH = 64;

export class MemoryBroker implements Broker {
  #handlers: BrokerHandlers | null = null;
  #queues: SendRequest[][];
  #pending = new PendingSubmits();
  #busy: boolean[];
  #shards: number;

  constructor(options: { shards: number }) {
    this.#shards = options.shards;
    this.#queues = Array.from({ length: options.shards }, () => []);
    this.#busy = new Array(options.shards).fill(false);
  }

  async start(handlers: BrokerHandlers): Promise<void> {
    this.#handlers = handlers;
  }

  submit(request: SendRequest): Promise<Sequenced> {
    if (!this.#handlers) return Promise.reject(duplexError("unavailable", "the broker is not running"));
    const shard = shardOf(request.message.conv, this.#shards);
    return this.#pending.wait(request.ref, request.origin, () => {
      this.#queues[shard].push(request);
      if (!this.#busy[shard]) void this.#drain(shard);
    });
  }

  async publish(event: ControlEvent): Promise<void> {
    if (!this.#handlers) throw duplexError("unavailable", "the broker is not running");
    const handlers = this.#handlers;
    queueMicrotask(() => handlers.control(event));
  }

  status(): BrokerStatus {
    const running = this.#handlers !== null;
    return { ready: running, owned: running ? [...this.#queues.keys()] : [], shards: this.#shards, reconnects: 0 };
  }

  async close(): Promise<void> {
    this.#handlers = null;
    for (const queue of this.#queues) queue.splice(0);
    this.#pending.failAll("the broker is shutting down");
  }

  /** One shard: take what is queued, sequence it as one batch, fan it out, repeat. */
  async #drain(shard: number): Promise<void> {
    this.#busy[shard] = true;
    const queue = this.#queues[shard];
    while (queue.length > 0 && this.#handlers) {
      const handlers = this.#handlers;
      const batch = queue.splice(0, BATCH);
      // Loops, not map and forEach: at a few thousand sends a second a batch is often one
      // message, and every closure per batch is garbage per message.
      const messages: NewMessage[] = [];
      for (const r of batch) messages.push(r.message);
      try {
        const results = await sequenceEach(handlers.sequence, messages);
        for (let i = 0; i < batch.length; i++) {
          const r = batch[i];
          const result = results[i];
          if (result instanceof DuplexError) {
            handlers.deadLettered?.(poisonReport(r, result));
            this.#pending.settle(r.ref, result);
            continue;
          }
          const item: Sequenced = { message: result.message, duplicate: result.duplicate, origin: r.origin, ref: r.ref };
          handlers.deliver(item);
          this.#pending.settle(r.ref, item);
        }
      } catch (err) {
        const failure = asDuplexError(err);
        for (const r of batch) this.#pending.settle(r.ref, failure);
      }
    }
    this.#busy[shard] = false;
  }
}
