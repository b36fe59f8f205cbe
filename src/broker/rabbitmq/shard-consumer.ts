/**
 * One shard queue as one node sees it: a consumer on a channel of its own that hands
 * what it receives to `work` one batch at a time, and acks a batch only when `work` has
 * finished with it (stored and fanned out).
 *
 * The consumer lets go of the shard by closing its channel, never by `basic.cancel`:
 * closing requeues everything it holds unacked, in order, in the same step that lets the
 * next consumer in, so the next owner starts exactly where this one stopped. Cancelling a
 * consumer that still holds unacked messages lets the next one overtake them (quorum
 * queues), and on RabbitMQ 3.10 crashes a classic single-active-consumer queue.
 */
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import { errorFields, type Logger } from "../../core/log.ts";
import { type AmqpLink, atMost } from "./connection.ts";

/** Messages the broker may push ahead of acks; what is waiting forms the next batch. */
const PREFETCH = 256;
/** Largest batch handed to `work` (one store call, one fanout publish). */
const BATCH = 128;

/**
 * Processes one batch. Resolves when the batch may be settled, with the messages to
 * dead-letter (poison messages); the rest are acked. Rejects when nothing may be settled
 * (the batch is requeued when the channel closes). `current` turns false once the channel
 * the batch came from is gone, so a retry loop knows to give up.
 */
export type ShardWork = (batch: ConsumeMessage[], current: () => boolean, shard: number) => Promise<ConsumeMessage[]>;

export interface ShardConsumerOptions {
  queue: string;
  link: AmqpLink;
  work: ShardWork;
  /**
   * Longest a hand-off waits for the batch in hand. A store call that hangs must not hold
   * a shard (or a shutdown) forever: past this the channel closes anyway and the batch is
   * requeued, to be redone idempotently by the next owner.
   */
  settleMs: number;
  log: Logger;
}

export class ShardConsumer {
  readonly shard: number;
  #o: ShardConsumerOptions;
  #model: ChannelModel | null = null;
  #channel: Channel | null = null;
  /** Delivered on #channel, not yet in a batch. */
  #buffer: ConsumeMessage[] = [];
  /** The batch loop while it runs: one at a time, so a shard is never processed twice at once. */
  #loop: Promise<void> | null = null;
  /** Finish the batch in hand but take no new one: the shard is being let go. */
  #hold = false;
  /** Subscriptions and hand-offs, one after another. */
  #ops: Promise<void> = Promise.resolve();

  constructor(shard: number, options: ShardConsumerOptions) {
    this.shard = shard;
    this.#o = options;
  }

  /** Registers a consumer on a fresh channel of `model`: active now, or standing by. */
  subscribe(model: ChannelModel): Promise<void> {
    return this.#serially(() => this.#subscribe(model));
  }

  /** The connection is gone, and with it the channel and every message it held. */
  drop(): void {
    this.#channel = null;
    this.#buffer = [];
  }

  /**
   * Steps to the back of the queue's consumer line: finishes the batch in hand, closes the
   * channel (requeueing the rest) and registers again. Used when another node now owns
   * the shard, so that node's consumer, registered earlier, becomes the active one.
   */
  resubscribe(): Promise<void> {
    return this.#serially(async () => {
      const channel = this.#channel;
      const model = this.#model;
      if (!channel || !model || !(await this.#letGo(channel))) return;
      await this.#subscribe(model).catch((err) => this.#o.link.rebuild(model, `shard ${this.shard} could not resubscribe: ${errorFields(err).err}`));
    });
  }

  /** Lets the shard go for good: the batch in hand is finished first. */
  release(): Promise<void> {
    return this.#serially(async () => {
      const channel = this.#channel;
      if (channel) await this.#letGo(channel);
    });
  }

  /** Subscribing and letting go never interleave: each sees the channel the last one left. */
  #serially(op: () => Promise<void>): Promise<void> {
    const done = this.#ops.then(op);
    this.#ops = done.catch(() => {});
    return done;
  }

  async #subscribe(model: ChannelModel): Promise<void> {
    const channel = await this.#o.link.channel(model);
    await channel.prefetch(PREFETCH);
    this.#model = model;
    this.#channel = channel;
    this.#buffer = [];
    this.#hold = false;
    await channel.consume(this.#o.queue, (msg) => this.#receive(channel, msg));
  }

  /** False when the connection was rebuilt meanwhile (its new channel is not ours to close). */
  async #letGo(channel: Channel): Promise<boolean> {
    this.#hold = true;
    if (this.#loop) await atMost(this.#o.settleMs, this.#loop);
    if (this.#channel !== channel) return false;
    this.drop();
    await this.#o.link.release(channel);
    return true;
  }

  #receive(channel: Channel, msg: ConsumeMessage | null): void {
    if (channel !== this.#channel) return;
    if (msg === null) {
      // The server cancelled us (the queue was deleted): setup declares it again.
      if (this.#model) this.#o.link.rebuild(this.#model, `shard queue ${this.#o.queue} cancelled its consumer`);
      return;
    }
    this.#buffer.push(msg);
    this.#kick();
  }

  #kick(): void {
    if (this.#loop || this.#hold || this.#buffer.length === 0) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      this.#kick();
    });
  }

  async #run(): Promise<void> {
    while (!this.#hold && this.#buffer.length > 0 && this.#channel) {
      const channel = this.#channel;
      const batch = this.#buffer.splice(0, BATCH);
      const current = () => this.#channel === channel;
      let dead: ConsumeMessage[];
      try {
        dead = await this.#o.work(batch, current, this.shard);
      } catch (err) {
        if (!current() || this.#hold) return;
        // Acking anything later would ack this batch too (acks are cumulative): hand the
        // shard back to the queue instead, and take it up again from the first unacked.
        this.#o.log.warn("shard batch abandoned; requeueing it", { shard: this.shard, ...errorFields(err) });
        void this.resubscribe();
        return;
      }
      if (!current()) return;
      try {
        // Rejected without requeue, a message goes to the queue's dead-letter exchange. Those
        // go first: the cumulative ack after them would take them too.
        for (const m of dead) channel.nack(m, false, false);
        const last = batch.findLast((m) => !dead.includes(m));
        if (last) channel.ack(last, true);
      } catch {
        // The channel closed after the work finished: the batch is requeued and, being
        // stored already, comes back as duplicates that the store recognises.
      }
    }
  }
}
