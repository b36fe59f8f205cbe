/**
 * What a shard's active consumer does with one batch: sequence and store it through the
 * hub, fan the results out with publisher confirms, and only then let the batch be acked.
 * A failure that may pass (the store or broker "unavailable") is retried with backoff for
 * as long as the batch is still this node's; a store refusal of one message (any other
 * DuplexError) goes back to its origin and does not hold up the shard.
 */
import type { ConsumeMessage } from "amqplib";
import { DuplexError } from "../../core/errors.ts";
import { errorFields, type Logger } from "../../core/log.ts";
import type { SendRequest, Sequenced } from "../../core/ports/broker.ts";
import type { Appended, NewMessage } from "../../core/ports/store.ts";
import type { ShardWork } from "./shard-consumer.ts";
import { parseRequest, type Refusal } from "./wire.ts";

const RETRY_MAX_MS = 5000;

export interface ShardWorkOptions {
  sequence(messages: NewMessage[]): Promise<Appended[]>;
  /** Publishes to the fanout; resolves once RabbitMQ confirmed it. */
  fanOut(type: "sequenced" | "refused", body: unknown): Promise<void>;
  /** The broker is closing: give up retrying (the batch is requeued). */
  stopping(): boolean;
  log: Logger;
}

export function shardWork(o: ShardWorkOptions): ShardWork {
  /** A store error other than "unavailable" is about one message: refuse that one alone. */
  async function sequence(requests: SendRequest[]): Promise<(Sequenced | Refusal)[]> {
    try {
      const appended = await o.sequence(requests.map((r) => r.message));
      return appended.map((a, i) => ({ ...a, origin: requests[i].origin, ref: requests[i].ref }));
    } catch (err) {
      if (!(err instanceof DuplexError) || err.code === "unavailable") throw err;
      if (requests.length === 1) return [{ origin: requests[0].origin, ref: requests[0].ref, error: err.toJSON() }];
      const results: (Sequenced | Refusal)[] = [];
      for (const r of requests) results.push(...(await sequence([r])));
      return results;
    }
  }

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

  return async (batch: ConsumeMessage[], current: () => boolean): Promise<void> => {
    const requests: SendRequest[] = [];
    const redelivered: boolean[] = [];
    for (const m of batch) {
      const request = parseRequest(m.content);
      if (!request) {
        o.log.warn("dropped an unreadable message from a shard queue", { shard: m.fields.routingKey });
        continue;
      }
      requests.push(request);
      redelivered.push(m.fields.redelivered);
    }
    if (requests.length === 0) return;
    const results = await retry(() => sequence(requests), current);
    const items: Sequenced[] = [];
    const refusals: Refusal[] = [];
    results.forEach((r, i) => {
      if ("error" in r) refusals.push(r);
      // A redelivered message may have been stored by a node that died before fanning it
      // out: pass it on as new, and every hub drops a seq it has delivered already.
      else items.push(redelivered[i] && r.duplicate ? { ...r, duplicate: false } : r);
    });
    await retry(() => Promise.all([
      items.length > 0 ? o.fanOut("sequenced", items) : undefined,
      ...refusals.map((r) => o.fanOut("refused", r)),
    ]), current);
  };
}
