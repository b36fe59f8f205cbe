/**
 * The fanout publishes of one event-loop turn, sent as one message. A node that owns
 * several shards tends to finish their batches together (their store replies arrive in
 * one read), and each batch published alone costs RabbitMQ a publish, a confirm and a
 * delivery to every node, and every node a frame to read and parse. Joined, the turn
 * costs that once.
 *
 * Order holds: a shard issues its batches in order, a turn's batches are joined in the
 * order they were added, and one channel publishes the turns in order. Each batch is
 * serialised when it is added, so a batch the runtime cannot serialise fails alone
 * (publishEach narrows it down to the item) and never spoils another shard's; a publish
 * that fails fails every batch in it, and each shard retries its own.
 */
import { serialise } from "../../core/protocol.ts";

/**
 * A joined message grows to about this many bytes, then the next batch starts another:
 * sixteen shards' full batches of large messages could otherwise pass RabbitMQ's
 * max_message_size, and one huge frame holds the channel (and every node's reader) up.
 */
export const JOINED_BYTES = 1 << 20;

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export class TurnBatcher {
  #publish: (json: string) => Promise<void>;
  #what: string;
  /** Each added batch's items as JSON, without the array's brackets. */
  #parts: string[] = [];
  #bytes = 0;
  #waiters: Waiter[] = [];

  /** `publish` sends one JSON array and resolves once it is confirmed. */
  constructor(publish: (json: string) => Promise<void>, what: string) {
    this.#publish = publish;
    this.#what = what;
  }

  /** Resolves once the message that carries `items` is confirmed. */
  add(items: readonly unknown[]): Promise<void> {
    // Nothing to carry; an empty part would also join into invalid JSON ("[,…]").
    if (items.length === 0) return Promise.resolve();
    let json: string;
    try {
      json = serialise(items, this.#what);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#parts.length > 0 && this.#bytes + json.length > JOINED_BYTES) this.#flush();
    return new Promise((resolve, reject) => {
      // The message leaves in a microtask queued behind the first batch. Store replies
      // read together resolve their shards' calls, each the same few awaits from here,
      // before it runs, so those batches join; one that comes later starts the next
      // message. Waiting for the next event-loop iteration (setImmediate) instead joined
      // fewer and was slower (docs/09-order.md).
      if (this.#parts.length === 0) queueMicrotask(() => this.#flush());
      this.#parts.push(json.slice(1, -1));
      this.#bytes += json.length;
      this.#waiters.push({ resolve, reject });
    });
  }

  #flush(): void {
    // A message that filled up went out early; its microtask finds nothing left.
    if (this.#parts.length === 0) return;
    const parts = this.#parts;
    const waiters = this.#waiters;
    this.#parts = [];
    this.#bytes = 0;
    this.#waiters = [];
    let sent: Promise<void>;
    try {
      sent = this.#publish(`[${parts.join(",")}]`);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => { for (const w of waiters) w.resolve(); },
      (err) => { for (const w of waiters) w.reject(err); },
    );
  }
}
