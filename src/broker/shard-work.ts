/**
 * What a shard's active consumer does with one batch: sequence and store it through the
 * hub, fan the results out with publisher confirms, and only then let the batch be acked.
 * A failure that may pass (the store or broker "unavailable") is retried with backoff for
 * as long as the batch is still this node's. A poison message (src/broker/poison.ts: one
 * that fails for good, or is no `send` at all) goes back to its origin as a refusal and is
 * handed back to be dead-lettered, so it does not hold up the shard.
 */
import type { ConsumeMessage } from "amqplib";
import { DuplexError, duplexError } from "../core/errors.ts";
import { errorFields, type Logger } from "../core/log.ts";
import type { PoisonReport, SendRequest, Sequenced } from "./interface.ts";
import type { Appended, NewMessage } from "../store/interface.ts";
import { poisonReport, publishEach, sequenceEach } from "./poison.ts";
import type { ShardWork } from "./shard-consumer.ts";
import { parseRequest, type Refusal } from "./wire.ts";

const RETRY_MAX_MS = 5000;

export interface ShardWorkOptions {
  sequence(messages: NewMessage[]): Promise<Appended[]>;
  /** Publishes to the fanout; resolves once RabbitMQ confirmed it. */
  fanOut(type: "sequenced" | "refused", body: unknown): Promise<void>;
  /** The broker is closing: give up retrying (the batch is requeued). */
  stopping(): boolean;
  /** A poison message is about to be dead-lettered. */
  deadLettered(report: PoisonReport): void;
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

  return async (batch: ConsumeMessage[], current: () => boolean, shard: number): Promise<ConsumeMessage[]> => {
    const dead: ConsumeMessage[] = [];
    const requests: SendRequest[] = [];
    const sources: ConsumeMessage[] = [];
    for (const m of batch) {
      const request = parseRequest(m.content);
      if (request) {
        requests.push(request);
        sources.push(m);
        continue;
      }
      dead.push(m);
      o.deadLettered({ shard, code: "bad_request", error: `a message of ${m.content.length} bytes on the shard queue is no send request` });
    }
    if (requests.length === 0) return dead;
    const results = await retry(() => sequenceEach(o.sequence, requests.map((r) => r.message)), current);
    const items: Sequenced[] = [];
    const sourceOf = new Map<Sequenced, number>();
    const refusals: Refusal[] = [];
    const refuse = (i: number, err: DuplexError) => {
      refusals.push({ origin: requests[i].origin, ref: requests[i].ref, error: err.toJSON() });
      dead.push(sources[i]);
      o.deadLettered(poisonReport(requests[i], err, shard));
    };
    results.forEach((r, i) => {
      if (r instanceof DuplexError) return refuse(i, r);
      // A redelivered message may have been stored by a node that died before fanning it
      // out: pass it on as new, and every hub drops a seq it has delivered already.
      const item = { ...r, origin: requests[i].origin, ref: requests[i].ref };
      if (sources[i].fields.redelivered && r.duplicate) item.duplicate = false;
      items.push(item);
      sourceOf.set(item, i);
    });
    const unsent = await retry(() => publishEach((part) => o.fanOut("sequenced", part), items), current);
    for (const { item, error } of unsent) {
      refuse(sourceOf.get(item)!, duplexError("unprocessable", `stored as seq ${item.message.seq} of "${item.message.conv}", but ${error.message}`));
    }
    await retry(() => Promise.all(refusals.map((r) => o.fanOut("refused", r))), current);
    return dead;
  };
}
