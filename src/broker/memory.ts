/**
 * The in-process broker: the cluster design on one node. Conversations hash to shards;
 * each shard sequences strictly one batch after another, shards run concurrently, and
 * every sequenced message is fanned out to delivery. RabbitMQ replaces the queues, not
 * the shape. A poison message is refused to its sender and the shard goes on; nothing
 * keeps it, as nothing here outlives the process and its sender still has it.
 */
import { DuplexError, duplexError } from "../core/errors.ts";
import type { Broker, BrokerHandlers, BrokerStatus, ControlEvent, SendRequest, Sequenced } from "./interface.ts";
import { poisonReport, sequenceEach } from "./poison.ts";
import { shardOf } from "./topology.ts";

interface Pending {
  request: SendRequest;
  resolve(s: Sequenced): void;
  reject(err: unknown): void;
}

/** Largest batch one shard hands to the store at once. */
const BATCH = 64;

export class MemoryBroker implements Broker {
  #handlers: BrokerHandlers | null = null;
  #queues: Pending[][];
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
    return new Promise((resolve, reject) => {
      this.#queues[shard].push({ request, resolve, reject });
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
    for (const queue of this.#queues) {
      for (const p of queue.splice(0)) p.reject(duplexError("unavailable", "the broker is shutting down"));
    }
  }

  /** One shard: take what is queued, sequence it as one batch, fan it out, repeat. */
  async #drain(shard: number): Promise<void> {
    this.#busy[shard] = true;
    const queue = this.#queues[shard];
    while (queue.length > 0 && this.#handlers) {
      const handlers = this.#handlers;
      const batch = queue.splice(0, BATCH);
      try {
        const results = await sequenceEach(handlers.sequence, batch.map((p) => p.request.message));
        batch.forEach((p, i) => {
          const r = results[i];
          if (r instanceof DuplexError) {
            handlers.deadLettered?.(poisonReport(p.request, r));
            return p.reject(r);
          }
          const item: Sequenced = { ...r, origin: p.request.origin, ref: p.request.ref };
          handlers.deliver(item);
          p.resolve(item);
        });
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.#busy[shard] = false;
  }
}
