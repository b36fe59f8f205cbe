/**
 * The stores of a cluster: sessions, sequences and history in Redis, shared by every node
 * (docs/07-sessions.md). The key layout and its Redis Cluster hash tags are in
 * keys.ts, the Lua scripts in scripts.ts, the connection's failure behaviour
 * in src/redis/connection.ts.
 *
 * Redis Cluster: every script takes keys of one slot and every other command one key, so
 * nothing here relies on keys of different users, nodes or conversations sharing a slot;
 * the connection finds out by itself that the URL names a cluster member and routes each
 * call to the member that owns its slot (src/redis/connection.ts).
 */
import type { Logger } from "../../core/log.ts";
import type { Stores } from "../../core/ports/store.ts";
import { connectRedis } from "../../redis/connection.ts";
import { redisKeys } from "./keys.ts";
import { RedisMessageStore } from "./messages.ts";
import { SCRIPTS } from "./scripts.ts";
import { RedisSessionStore } from "./sessions.ts";

export interface RedisStoreOptions {
  /** Prefix of every key (DUPLEX_NAMESPACE). */
  namespace: string;
  /** Messages kept per conversation (DUPLEX_HISTORY_LIMIT). */
  historyLimit: number;
  log?: Logger;
  /** Longest a store call waits for Redis before failing "unavailable". Default 5000. */
  timeoutMs?: number;
}

/**
 * Connects and returns the stores. Rejects with DuplexError("unavailable") whose message
 * names the URL (password masked) when the first connection fails (refused, or no answer
 * within 5 s): a node started against an unreachable Redis says so and exits. Once
 * connected, losing Redis is survived: calls fail "unavailable" at once, `ready()` is
 * false, and the connection comes back by itself.
 */
export async function redisStores(url: string, options: RedisStoreOptions): Promise<Stores> {
  const link = await connectRedis(url, { label: "store", log: options.log, scripts: SCRIPTS, timeoutMs: options.timeoutMs });
  const keys = redisKeys(options.namespace);
  return {
    sessions: new RedisSessionStore(link, keys),
    messages: new RedisMessageStore(link, keys, options.historyLimit),
    ready: link.ready,
    reconnects: link.reconnects,
    close: link.close,
  };
}
