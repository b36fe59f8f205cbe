/**
 * One shard queue as one node sees it: a consumer on a channel of its own that hands
 * what it receives to `work` one batch at a time, and acks a batch only when `work` has
 * finished with it (stored and fanned out).
 *
 * Batches are pipelined: `work` resolves once a batch is sequenced and its fanout publish
 * is on its way, and the next batch is sequenced while RabbitMQ confirms the previous
 * one. Sequencing stays one batch at a time (each conversation's order is the order the
 * batches reach the store); acks stay cumulative and in order: a batch is acked only once
 * its own confirm and every earlier batch's ack are through. A batch that fails gives
 * the shard back (below), and no batch behind it is acked: the queue hands them all out
 * again from the first unacked, and the store recognises what it already holds.
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
/** Batches sequenced whose fanout confirm is still awaited; past this the shard waits for the oldest. */
const IN_FLIGHT = 8;

/**
 * Processes one batch in two steps. The promise resolves once the batch is sequenced and
 * its fanout publish issued (the next batch may be sequenced now); its `confirmed` once
 * the batch may be settled, with the messages to dead-letter (poison messages); the rest
 * are acked. Either rejects when nothing may be settled (the batch is requeued when the
 * channel closes). `current` turns false once the batch may no longer be settled (its
 * channel is gone, or a batch ahead of it failed), so a retry loop knows to give up.
 */
export type ShardWork = (batch: ConsumeMessage[], current: () => boolean, shard: number) => Promise<{ confirmed: Promise<ConsumeMessage[]> }>;

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
  /** The batch loop while it runs: one at a time, so a shard is never sequenced twice at once. */
  #loop: Promise<void> | null = null;
  /** Batches sequenced and not yet settled, oldest first; each settles after the one before. */
  #inFlight: Promise<void>[] = [];
  /** Batches taken so far: each one's number orders it among those in flight. */
  #taken = 0;
  /** The channel and batch that failed: neither it nor any batch after it on that channel is acked. */
  #failed: { channel: Channel; batch: number } | null = null;
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
    await atMost(this.#o.settleMs, this.#settled());
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

  /** The batch loop and then every batch in flight: nothing is taken once #hold is set. */
  async #settled(): Promise<void> {
    await this.#loop;
    await this.#inFlight.at(-1);
  }

  #kick(): void {
    if (this.#loop || this.#hold || this.#buffer.length === 0 || this.#failed?.channel === this.#channel) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      this.#kick();
    });
  }

  async #run(): Promise<void> {
    while (!this.#hold && this.#buffer.length > 0 && this.#channel && this.#failed?.channel !== this.#channel) {
      if (this.#inFlight.length >= IN_FLIGHT) {
        await this.#inFlight[0];
        continue;
      }
      const channel = this.#channel;
      const batch = this.#buffer.splice(0, BATCH);
      const n = ++this.#taken;
      const current = () => this.#may(channel, n);
      let sequenced: { confirmed: Promise<ConsumeMessage[]> };
      try {
        sequenced = await this.#o.work(batch, current, this.shard);
      } catch (err) {
        return this.#fail(channel, n, err);
      }
      if (!current()) {
        sequenced.confirmed.catch(() => {}); // never settled: the batch is requeued with its channel
        return;
      }
      this.#settleInOrder(channel, n, batch, sequenced.confirmed);
    }
  }

  /** Batch n from `channel` may still be settled: the channel is ours, and no batch up to n failed. */
  #may(channel: Channel, n: number): boolean {
    const f = this.#failed;
    return this.#channel === channel && !(f?.channel === channel && n >= f.batch);
  }

  /** Acks (and dead-letters) a batch once it is confirmed and the batch ahead of it is settled. */
  #settleInOrder(channel: Channel, n: number, batch: ConsumeMessage[], confirmed: Promise<ConsumeMessage[]>): void {
    const ahead = this.#inFlight.at(-1);
    const settled = (async () => {
      let dead: ConsumeMessage[] | null = null;
      let failure: unknown;
      try {
        dead = await confirmed;
      } catch (err) {
        failure = err;
      }
      // Acks are cumulative: acking this batch before the one ahead would ack that one too.
      await ahead;
      if (!this.#may(channel, n)) return;
      if (!dead) return this.#fail(channel, n, failure);
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
    })().finally(() => {
      this.#inFlight.splice(this.#inFlight.indexOf(settled), 1);
    });
    this.#inFlight.push(settled);
  }

  /**
   * Batch n failed: acking it or anything after it would ack it (acks are cumulative). The
   * batches ahead of it still settle; then the shard goes back to the queue, to be taken up
   * again from the first unacked message.
   */
  #fail(channel: Channel, n: number, err: unknown): void {
    if (!this.#may(channel, n) || this.#hold) return;
    this.#failed = { channel, batch: n };
    this.#o.log.warn("shard batch abandoned; requeueing it and every batch behind it", { shard: this.shard, ...errorFields(err) });
    void this.resubscribe();
  }
}
