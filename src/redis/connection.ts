/**
 * One node-redis connection that behaves the way a node needs while Redis is in trouble:
 * - no offline queue: while the connection is down every call fails at once with
 *   DuplexError("unavailable") instead of waiting (clients are told to retry);
 * - a call that Redis does not answer within `timeoutMs` fails the same way (a frozen
 *   Redis would otherwise hold it forever; the write may still land, as with any timeout);
 * - after a lost connection node-redis reconnects alone with capped, jittered backoff,
 *   and `ready()` is true again once it has;
 * - the first connection is not retried: connecting fails with one message naming the
 *   URL (password masked), so a misconfigured node says so instead of waiting silently.
 *
 * Redis Cluster needs no setting of its own: the first connection asks the server
 * (`INFO cluster`), and when cluster mode is on the link becomes a node-redis cluster
 * client seeded with that URL, with the same options on every member's connection. Each
 * command and script is then routed by its first key (every script's keys share one hash
 * slot: src/store/redis/keys.ts); `ready()` means every master is connected (and the pub/sub
 * connection, once there is one), as by default a cluster missing a master refuses
 * commands anyway.
 */
import { createClient, createCluster, ErrorReply, RedisClient, type RedisScripts } from "redis";
import { maskUrl } from "../core/config.ts";
import { DuplexError, duplexError } from "../core/errors.ts";
import { errorFields, type Logger } from "../core/log.ts";

export interface RedisLinkOptions<S extends RedisScripts> {
  /** Names the connection in log lines ("store", "broker", …). */
  label: string;
  log?: Logger;
  scripts?: S;
  /** Longest a call may wait for its reply. Default 5000. */
  timeoutMs?: number;
  /** Longest the first connection may take. Default 5000. */
  connectTimeoutMs?: number;
}

/** Reconnect delay: doubling from 50 ms, capped at 2 s, jittered so nodes do not reconnect in step. */
export function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100);
}

export async function connectRedis<S extends RedisScripts = Record<never, never>>(url: string, options: RedisLinkOptions<S>) {
  const masked = maskUrl(url);
  const { label, log } = options;
  const timeoutMs = options.timeoutMs ?? 5000;
  let established = false;
  let lost = false;
  let reconnects = 0;
  let ready = () => false;
  let firstError: unknown;
  const common = {
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 5000,
      reconnectStrategy: (retries: number, cause: Error) => (established ? reconnectDelay(retries) : cause),
    },
  };
  // Without a listener node-redis's "error" event would end the process; it fires on every
  // failed reconnect attempt too, so only the transitions are logged (an error that leaves
  // the link ready is not one).
  const onError = (err: unknown) => {
    if (!established) firstError ??= err;
    if (!established || lost || ready()) return;
    lost = true;
    log?.warn("redis connection lost; reconnecting", { redis: masked, connection: label, ...errorFields(err) });
  };
  const onReady = () => {
    if (!lost || !ready()) return;
    lost = false;
    reconnects++;
    log?.info("redis connection restored", { redis: masked, connection: label });
  };

  const single = await opened(masked, () => createClient({ url, scripts: options.scripts, ...common }).on("error", onError).on("ready", onReady));
  // Typed as the standalone client either way: the cluster client has the same commands
  // and scripts with the same signatures (a union of the two would not be callable), and
  // nothing here uses what differs (connection-level methods).
  let client = single;
  ready = () => single.isReady;
  if (await clusterEnabled(single, masked)) {
    single.destroy();
    firstError = undefined;
    const cluster = await opened(masked, () => clusterOf(url, options.scripts, common).on("error", onError).on("node-error", onError).on("node-ready", onReady), () => firstError);
    client = pinPublish(cluster) as unknown as typeof single;
    ready = () => clusterReady(cluster);
  }
  established = true;

  return {
    ready,
    reconnects: () => reconnects,
    /**
     * Runs `op` if connected, bounded by `timeoutMs`; every failure becomes a DuplexError.
     * Its message reaches clients, so it names no host or port; its cause, which the node
     * logs, names the URL (password masked) and what went wrong.
     */
    async run<T>(op: (c: typeof client) => Promise<T>): Promise<T> {
      const failed = (what: string, detail: string, cause?: unknown) =>
        duplexError("unavailable", `Redis ${what}; retry later`, new Error(`Redis at ${masked} (${label}): ${detail}`, { cause }));
      if (!ready()) throw failed("is unreachable", "not connected");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(failed(`did not answer within ${timeoutMs} ms`, "no answer in time")), timeoutMs);
      });
      try {
        return await Promise.race([op(client), deadline]);
      } catch (err) {
        if (err instanceof DuplexError) throw err;
        if (refusedForGood(err)) {
          throw duplexError("unprocessable", `Redis refused it for good: ${reason(err)}`, new Error(`Redis at ${masked} (${label}): ${reason(err)}`, { cause: err }));
        }
        throw failed("failed", reason(err), err);
      } finally {
        clearTimeout(timer);
      }
    },
    /** Lets answered calls finish (briefly), then drops the connection for good. */
    async close(): Promise<void> {
      if (client.isOpen) await Promise.race([client.close(), new Promise((r) => setTimeout(r, 1000))]);
      client.destroy();
    },
  };
}

/**
 * Creates and connects a client; any failure names the URL. `cause` gives what the client
 * reported meanwhile: a cluster client only says that no seed answered, its "error" event
 * said why.
 */
async function opened<C extends { connect(): Promise<unknown>; destroy(): void }>(masked: string, create: () => C, cause?: () => unknown): Promise<C> {
  let client: C;
  try {
    client = create();
  } catch (err) {
    throw duplexError("unavailable", `Redis URL ${masked} is not usable: ${reason(err)}`, err);
  }
  try {
    await client.connect();
    return client;
  } catch (err) {
    client.destroy();
    throw duplexError("unavailable", `cannot connect to Redis at ${masked}: ${reason(cause?.() ?? err)}`, err);
  }
}

/** Whether the server is a Redis Cluster member; one that refuses INFO is taken as standalone. */
async function clusterEnabled(client: { info(section: string): Promise<string>; destroy(): void }, masked: string): Promise<boolean> {
  try {
    return /^cluster_enabled:1\b/m.test(await client.info("cluster"));
  } catch (err) {
    if (err instanceof ErrorReply) return false;
    client.destroy();
    throw duplexError("unavailable", `cannot connect to Redis at ${masked}: INFO failed: ${reason(err)}`, err);
  }
}

/**
 * A cluster client seeded with `url`. node-redis gives the members it discovers only the
 * `defaults`, so credentials and TLS from the URL go there too; members must be reachable
 * at the addresses the cluster announces (cluster-announce-ip / -port).
 */
function clusterOf<S extends RedisScripts>(url: string, scripts: S | undefined, common: { disableOfflineQueue: boolean; socket: object }) {
  const { username, password, socket } = RedisClient.parseURL(url);
  return createCluster({
    rootNodes: [{ url }],
    defaults: { username, password, ...common, socket: { ...common.socket, ...(socket.tls ? { tls: true as const } : {}) } },
    scripts,
  });
}

interface ClusterState {
  isReady: boolean;
  masters: readonly { client?: { isReady: boolean } }[];
  pubSubNode?: { client: { isReady: boolean } };
}

function clusterReady(cluster: ClusterState): boolean {
  const pubSub = cluster.pubSubNode;
  return cluster.isReady && cluster.masters.length > 0 && cluster.masters.every((m) => m.client?.isReady)
    && (!pubSub || pubSub.client.isReady);
}

type Publisher = { publish(channel: string, message: string): Promise<number> };

/**
 * PUBLISH has no key, so node-redis would send each one to any member. Sent to the member
 * serving the channel's slot instead, one publisher's messages reach every subscriber in
 * the order they were published, as on a single Redis: each member relays what it gets to
 * the others in order over the cluster bus.
 */
function pinPublish<C extends { getNodeClientForKey(key: string): Promise<Publisher> }>(cluster: C): C {
  const publish = async (channel: string, message: string) => (await cluster.getNodeClientForKey(channel)).publish(channel, message);
  return Object.assign(Object.create(cluster) as C, { publish, PUBLISH: publish });
}

export type RedisLink<S extends RedisScripts = Record<never, never>> = Awaited<ReturnType<typeof connectRedis<S>>>;

/** Redis in trouble, not the command: out of memory, loading, busy, a failover under way. */
const PASSING_REPLY = /^(OOM|LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|MISCONF)\b/;

/**
 * An error reply that any retry would get again: one raised inside a script (Redis 7 tags
 * those "@user_script") or a key of the wrong type, unless Redis itself is in trouble.
 */
function refusedForGood(err: unknown): boolean {
  if (!(err instanceof ErrorReply) || PASSING_REPLY.test(err.message)) return false;
  return /^WRONGTYPE\b/.test(err.message) || /@user_script\b/.test(err.message);
}

function reason(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return reason(err.errors[0]);
  return err instanceof Error && err.message ? err.message : String(err);
}
