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
 */
import { createClient, type RedisScripts } from "redis";
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
  const client = (() => {
    try {
      return createClient({
        url,
        scripts: options.scripts,
        disableOfflineQueue: true,
        socket: {
          connectTimeout: options.connectTimeoutMs ?? 5000,
          reconnectStrategy: (retries: number, cause: Error) => (established ? reconnectDelay(retries) : cause),
        },
      });
    } catch (err) {
      throw duplexError("unavailable", `Redis URL ${masked} is not usable: ${reason(err)}`, err);
    }
  })();
  // Without a listener node-redis's "error" event would end the process; it fires on every
  // failed reconnect attempt too, so only the transitions are logged (an error that leaves
  // the connection ready is not one).
  client.on("error", (err: unknown) => {
    if (!established || lost || client.isReady) return;
    lost = true;
    log?.warn("redis connection lost; reconnecting", { redis: masked, connection: label, ...errorFields(err) });
  });
  client.on("ready", () => {
    if (!lost) return;
    lost = false;
    reconnects++;
    log?.info("redis connection restored", { redis: masked, connection: label });
  });
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    throw duplexError("unavailable", `cannot connect to Redis at ${masked}: ${reason(err)}`, err);
  }
  established = true;
  const ready = () => client.isReady;

  return {
    client,
    ready,
    reconnects: () => reconnects,
    /** Runs `op` if connected, bounded by `timeoutMs`; every failure becomes a DuplexError. */
    async run<T>(op: (c: typeof client) => Promise<T>): Promise<T> {
      if (!ready()) throw duplexError("unavailable", `Redis at ${masked} is unreachable; retry later`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(duplexError("unavailable", `Redis at ${masked} did not answer within ${timeoutMs} ms; retry later`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([op(client), deadline]);
      } catch (err) {
        if (err instanceof DuplexError) throw err;
        throw duplexError("unavailable", `Redis at ${masked} failed: ${reason(err)}; retry later`, err);
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

export type RedisLink<S extends RedisScripts = Record<never, never>> = Awaited<ReturnType<typeof connectRedis<S>>>;

function reason(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return reason(err.errors[0]);
  return err instanceof Error && err.message ? err.message : String(err);
}
