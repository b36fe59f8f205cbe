/**
 * What a shard's active consumer does with one batch: sequence and store it through the
 * hub, fan the results out with publisher confirms, and only then let the batch be acked.
 * It hands the batch back as soon as its results are added to the turn's fanout message
 * (turn-batch.ts), so that the shard can sequence its next batch while RabbitMQ confirms
 * this one (shard-consumer.ts).
 * A failure that may pass (the store or broker "unavailable") is retried with backoff for
 * as long as the batch is still this node's. A poison message (src/broker/poison.ts: one
 * that fails for good, or is no `send` at all) goes back to its origin as a refusal and is
 * handed back to be dead-lettered, so it does not hold up the shard.
 */
import type { ConsumeMessage } from "amqplib";
import { DuplexError, duplexError } from "../../core/errors.ts";
import { errorFields, type Logger } from "../../core/log.ts";
import type { PoisonReport, SendRequest, Sequenced } from "../../core/ports/broker.ts";
import type { Appended, NewMessage } from "../../core/ports/store.ts";
import { type Stage, stamp } from "../../core/stages.ts";
import { poisonReport, publishEach, sequenceEach } from "../poison.ts";
import type { ShardWork } from "./shard-consumer.ts";
import { parseRequest, type Refusal } from "./wire.ts";

const RETRY_MAX_MS = 5000;

export interface ShardWorkOptions {
  sequence(messages: NewMessage[]): Promise<Appended[]>;
  /** Publishes sequenced items to the fanout; resolves once RabbitMQ confirmed them. */
  fanOut(items: Sequenced[]): Promise<void>;
  /** Publishes a refusal to the fanout, for the origin node; resolves once confirmed. */
  fanOutRefusal(refusal: Refusal): Promise<void>;
  /** The broker is closing: give up retrying (the batch is requeued). */
  stopping(): boolean;
  /** A poison message is about to be dead-lettered. */
  deadLettered(report: PoisonReport): void;
  /**
   * Counts a redelivery of a submit (MessageStore.countDelivery), for queues that count
   * none themselves (classic); null where RabbitMQ enforces x-delivery-limit (quorum).
   */
  countDelivery: ((ref: string) => Promise<number>) | null;
  /** Deliveries past the first a message may take before it is dead-lettered. */
  deliveryLimit: number;
  /** One message's time in one stage (BrokerHandlers.stage). */
  stage(stage: Stage, ms: number): void;
  log: Logger;
}

export function shardWork(o: ShardWorkOptions): ShardWork {
  async function retry<T>(step: () => Promise<T>, current: () => boolean): Promise<T> {
    for (let wait = 100; ; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      try {
        return await step();
      } catch (err) {
        if (o.stopping() || !current()) throw err;
        o.log.warn("shard batch failed; retrying", { retryInMs: wait, ...errorFields(err) });
        await new Promise((r) => setTimeout(r, wait));
        if (o.stopping() || !current()) throw err;
      }
    }
  }

  return async (batch, current, shard) => {
    const takenAt = stamp();
    const dead: ConsumeMessage[] = [];
    const refusals: Refusal[] = [];
    const refuse = (request: SendRequest, source: ConsumeMessage, err: DuplexError) => {
      refusals.push({ origin: request.origin, ref: request.ref, error: err.toJSON() });
      dead.push(source);
      o.deadLettered(poisonReport(request, err, shard));
    };
    const parsed = batch.map((m) => parseRequest(m.content));
    const { countDelivery } = o;
    const redeliveries = await retry(() => Promise.all(batch.map((m, i) => {
      const request = parsed[i];
      return countDelivery && request && m.fields.redelivered ? countDelivery(request.ref) : 0;
    })), current);
    const requests: SendRequest[] = [];
    const sources: ConsumeMessage[] = [];
    batch.forEach((m, i) => {
      const request = parsed[i];
      if (!request) {
        dead.push(m);
        o.deadLettered({ shard, code: "bad_request", error: `a message of ${m.content.length} bytes on the shard queue is no send request` });
      } else if (redeliveries[i] > o.deliveryLimit) {
        refuse(request, m, duplexError("unprocessable", `the message was delivered ${redeliveries[i] + 1} times without being settled; it is taken to bring its shard's owner down, and refused for good`));
      } else {
        requests.push(request);
        sources.push(m);
      }
    });
    for (const r of requests) if (r.sentAt !== undefined) o.stage("shard_queue", takenAt - r.sentAt);
    const results = requests.length === 0 ? [] : await retry(() => sequenceEach(o.sequence, requests.map((r) => r.message)), current);
    const sequencedAt = stamp();
    for (let i = 0; i < requests.length; i++) o.stage("sequence", sequencedAt - takenAt);
    const items: Sequenced[] = [];
    const sourceOf = new Map<Sequenced, number>();
    results.forEach((r, i) => {
      if (r instanceof DuplexError) return refuse(requests[i], sources[i], r);
      // A redelivered message may have been stored by a node that died before fanning it
      // out: pass it on as new, and every hub drops a seq it has delivered already.
      const item: Sequenced = { ...r, origin: requests[i].origin, ref: requests[i].ref, sequencedAt };
      if (sources[i].fields.redelivered && r.duplicate) item.duplicate = false;
      items.push(item);
      sourceOf.set(item, i);
    });
    // Added to this turn's fanout message now, in the shard's order; confirmed later.
    const confirmed = (async () => {
      const unsent = await retry(() => publishEach((part) => o.fanOut(part), items), current);
      const confirmedAt = stamp();
      for (let i = 0; i < items.length; i++) o.stage("fanout_confirm", confirmedAt - sequencedAt);
      for (const { item, error } of unsent) {
        const i = sourceOf.get(item)!;
        refuse(requests[i], sources[i], duplexError("unprocessable", `stored as seq ${item.message.seq} of "${item.message.conv}", but ${error.message}`));
      }
      await retry(() => Promise.all(refusals.map((r) => o.fanOutRefusal(r))), current);
      return dead;
    })();
    return { confirmed };
  };
}
