/**
 * The poison-message policy every broker follows. A failure that may pass by retrying —
 * the store or broker away or too slow, "unavailable" — is transient: the batch is retried
 * (RabbitMQ: for as long as it is this node's), or answered unavailable where no durable
 * queue holds it, so its client resends. Any other failure fails again however often it is
 * retried: a value JSON.stringify cannot serialise, a deterministic script error, a refusal
 * of the store (not_found), a bug. Such a message is a poison message: it is refused to its
 * sender with its error (anything but a DuplexError as "unprocessable"), reported through
 * BrokerHandlers.deadLettered, and moved out of the way so the messages behind it go on.
 */
import { DuplexError, duplexError } from "../core/errors.ts";
import type { Appended, NewMessage } from "../core/ports/store.ts";
import type { PoisonReport, SendRequest } from "../core/ports/broker.ts";

export function isTransient(err: unknown): boolean {
  return err instanceof DuplexError && err.code === "unavailable";
}

/** The error a poison message is refused with. */
export function poisonError(err: unknown): DuplexError {
  if (err instanceof DuplexError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return duplexError("unprocessable", `the message cannot be processed (${why}); it is refused for good`, err);
}

export function poisonReport(request: SendRequest, err: DuplexError, shard?: number): PoisonReport {
  const { conv, id, from } = request.message;
  return { conv, id, user: from.user, code: err.code, error: err.message, ...(shard === undefined ? {} : { shard }) };
}

/**
 * Sequences a batch. A permanent failure is narrowed down to the messages that cause it by
 * sequencing them one by one: those come back as their error, the others stored. A
 * transient failure rejects, for the caller to retry the batch or refuse it unavailable.
 */
export async function sequenceEach(
  sequence: (messages: NewMessage[]) => Promise<Appended[]>,
  messages: NewMessage[],
): Promise<(Appended | DuplexError)[]> {
  try {
    return await sequence(messages);
  } catch (err) {
    if (isTransient(err)) throw err;
    if (messages.length === 1) return [poisonError(err)];
    const results: (Appended | DuplexError)[] = [];
    for (const m of messages) results.push(...(await sequenceEach(sequence, [m])));
    return results;
  }
}

/**
 * Publishes sequenced items together; when they cannot be published together for good (a
 * body the runtime cannot serialise), each alone. Resolves with the items that still cannot
 * be, and why: stored, yet no node could be told of them. A transient failure rejects.
 */
export async function publishEach<T>(publish: (items: T[]) => Promise<void>, items: T[]): Promise<{ item: T; error: DuplexError }[]> {
  if (items.length === 0) return [];
  try {
    await publish(items);
    return [];
  } catch (err) {
    if (isTransient(err)) throw err;
    if (items.length === 1) return [{ item: items[0], error: poisonError(err) }];
    const failed: { item: T; error: DuplexError }[] = [];
    for (const item of items) failed.push(...(await publishEach(publish, [item])));
    return failed;
  }
}
