/**
 * What nodes say to each other through RabbitMQ. The AMQP `type` property names the kind:
 * `send` on the shard queues, and on the fanout `sequenced` (a batch of Sequenced items),
 * `refused`, `control`, `hello` and `bye`. Bodies are JSON.
 */
import type { ErrorCode } from "../../core/errors.ts";
import type { SendRequest } from "../../core/ports/broker.ts";

/** The store refused a message for good (not "unavailable"): its origin answers with this. */
export interface Refusal {
  origin: string;
  ref: string;
  error: { code: ErrorCode; message: string };
}

/** A node's periodic announcement; `probe` asks every other node to announce at once. */
export interface Hello {
  node: string;
  incarnation: string;
  shards: number;
  probe: boolean;
}

export interface Bye {
  node: string;
  incarnation: string;
}

const decoder = new TextDecoder();

/** A `send` read back from a shard queue; null when it is not one (never trust a queue). */
export function parseRequest(content: Uint8Array): SendRequest | null {
  try {
    const r = JSON.parse(decoder.decode(content));
    const m = r?.message;
    const ok = typeof r.origin === "string" && typeof r.ref === "string" && typeof m?.conv === "string"
      && typeof m.id === "string" && typeof m.from?.user === "string" && typeof m.from?.device === "string";
    return ok ? r : null;
  } catch {
    return null;
  }
}
