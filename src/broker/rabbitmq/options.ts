/** What a RabbitMQ broker is built from, checked before anything connects. */
import { SETTINGS } from "../../core/config.ts";
import { AmqpUrls } from "./urls.ts";
import { duplexError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { QueueType } from "./topology.ts";

export interface RabbitmqBrokerOptions {
  namespace: string;
  /** DUPLEX_SHARDS: every node of the namespace must agree. */
  shards: number;
  /** Type of the shard queues (default quorum); every node must agree. */
  queueType?: QueueType;
  nodeId: string;
  /** Longest a submit waits for its own fanout copy before it rejects "unavailable". */
  sendTimeoutMs: number;
  /** AMQP heartbeat (default 5): a frozen broker is noticed after two to three of these. */
  heartbeatSeconds?: number;
  /** Redeliveries a shard message may take before it is dead-lettered (default DELIVERY_LIMIT); every node must agree. */
  deliveryLimit?: number;
  log?: Logger;
}

export function checkOptions(url: string, o: RabbitmqBrokerOptions): void {
  const bad = (what: string): never => {
    throw duplexError("bad_request", `rabbitmqBroker: ${what}`);
  };
  if (typeof url !== "string") bad("AMQP_URL must be a string of amqp:// or amqps:// URLs");
  new AmqpUrls(url, 5);
  // The same rules as the environment: the config table throws naming the variable.
  if (typeof o.namespace !== "string" || o.namespace === "") bad("namespace (DUPLEX_NAMESPACE) must be a non-empty string");
  SETTINGS.namespace.parse(o.namespace);
  if (typeof o.nodeId !== "string" || o.nodeId === "") bad("nodeId (NODE_ID) must be a non-empty string");
  SETTINGS.nodeId.parse(o.nodeId);
  SETTINGS.shards.parse(String(o.shards));
  SETTINGS.sendTimeoutMs.parse(String(o.sendTimeoutMs));
  if (o.queueType !== undefined) SETTINGS.queueType.parse(o.queueType);
  const limit = o.deliveryLimit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) bad(`deliveryLimit must be an integer from 1 to 1000, got ${limit}`);
  const hb = o.heartbeatSeconds;
  if (hb !== undefined && (!Number.isInteger(hb) || hb < 1 || hb > 600)) {
    bad(`heartbeatSeconds must be an integer from 1 to 600 (0 would turn heartbeats off), got ${hb}`);
  }
}
