/**
 * Starts one duplex node on whichever runtime runs this file (CONTRACT §1):
 *   bun run src/main.ts · deno run -A src/main.ts · npx tsx src/main.ts
 */
import { readFile } from "node:fs/promises";
import { mintToken } from "./http/auth.ts";
import { createApp } from "./http/app.ts";
import { type Config, loadConfig, maskUrl, SHUTDOWN_GRACE_MS } from "./core/config.ts";
import { DuplexError } from "./core/errors.ts";
import { startHeartbeat } from "./core/heartbeat.ts";
import { Hub } from "./core/hub.ts";
import { createLogger, errorFields, type Logger } from "./core/log.ts";
import { CLOSE } from "./core/socket.ts";
import type { Broker } from "./core/ports/broker.ts";
import { MemoryBroker } from "./broker/memory.ts";
import { memoryStores } from "./store/memory.ts";
import type { Appended, NewMessage, Stores } from "./core/ports/store.ts";
import { load } from "./runtime/load.ts";
import { listenError, type RuntimeModule } from "./runtime/runtime.ts";
import { promMetrics } from "./ops/metrics.ts";

const runtimeModule: RuntimeModule = await load();
let config: Config;
try {
  config = loadConfig(runtimeModule.env());
} catch (err) {
  console.error(`duplex: ${err instanceof Error ? err.message : String(err)}`);
  runtimeModule.exit(2);
}
const log = createLogger(config.logLevel, { node: config.nodeId });
const runtime = runtimeModule.create({
  maxPayload: config.maxMessageBytes, heartbeatMs: config.heartbeatMs, maxBufferedBytes: config.maxBufferedBytes,
  requestTimeoutMs: config.requestTimeoutMs,
});

let stopping = false;
const secret = config.jwtSecret ?? crypto.randomUUID() + crypto.randomUUID();
const stores = await connectStores(config, log);
const broker = await createBroker(config, log);
const metrics = promMetrics({ node: config.nodeId, runtime: runtime.name }, {
  connections: () => hub.connections,
  ready: () => broker.status().ready && stores.ready() && !stopping,
  // The Redis broker sequences in Redis itself and owns no shards: none can lack an owner.
  shards: () => (config.redisUrl && !config.amqpUrl ? 0 : config.shards),
  ownedShards: () => broker.status().owned.length,
  brokerUp: () => broker.status().ready,
  storeUp: () => stores.ready(),
  brokerReconnects: () => broker.status().reconnects,
  storeReconnects: () => stores.reconnects(),
  deadLetters: broker.deadLetters && (() => broker.deadLetters!()),
});
const hub = new Hub({ ...config, stores, broker, log, metrics, publish: runtime.publish });
const stopHeartbeat = startHeartbeat(hub, stores.sessions, log);

const app = createApp({
  hub, stores, config, secret, log,
  upgrade: runtime.upgrade,
  peer: runtime.peer,
  draining: () => stopping,
  metrics: () => metrics.render(),
  health: () => {
    const b = broker.status();
    return { ready: b.ready, runtime: runtime.name, shards: b.shards, owned: b.owned };
  },
  assets: { page: await asset("./web/index.html"), client: await asset("./web/generated/client.js") },
});
const server = await runtime.serve(app, config.port, config.host).catch((err) => {
  console.error(`duplex: ${listenError(err, config.port, config.host).message}`);
  return runtimeModule.exit(1);
});
const url = `http://${config.host}:${server.port}`;
log.info("listening", { url, runtime: runtime.name });
// Serving before the broker is up lets /healthz say "not ready" while it connects (with
// backoff); a broker that refuses this node for good (say, a shard count that differs from
// the cluster's) ends the process with its reason.
broker.start({ sequence, countDelivery: (ref) => stores.messages.countDelivery(ref), stage: metrics.stage, ...hub.handlers() }).then(
  () => log.info("broker ready", { owned: broker.status().owned.length }),
  (err) => {
    console.error(`duplex: ${err instanceof Error ? err.message : String(err)}`);
    runtimeModule.exit(1);
  },
);
if (!config.jwtSecret) await printDevToken(url);

runtime.onShutdownSignal(async (signal) => {
  if (stopping) return;
  stopping = true;
  log.info("draining", { signal, connections: hub.connections, windowMs: config.drainMs });
  // A store or broker that hangs while closing must not keep a stopping node alive.
  setTimeout(() => {
    log.error("shutdown overran its bound; exiting", { boundMs: config.drainMs + SHUTDOWN_GRACE_MS });
    runtimeModule.exit(1);
  }, config.drainMs + SHUTDOWN_GRACE_MS);
  try {
    await hub.closeAll(CLOSE.goingAway, "server shutting down", config.drainMs);
    stopHeartbeat();
    const stopped = server.stop();
    await broker.close();
    await stores.close();
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 2000))]);
  } catch (err) {
    log.error("unclean shutdown", errorFields(err));
    runtimeModule.exit(1);
  }
  runtimeModule.exit(0);
});

/**
 * The broker sequences by appending to the store directly; new messages are counted. Not an
 * async function: on one node it runs for nearly every message, and each async call costs
 * a generator and its scope.
 */
function sequence(messages: NewMessage[]): Promise<Appended[]> {
  return stores.messages.append(messages).then(countNew);
}

function countNew(appended: Appended[]): Appended[] {
  let fresh = 0;
  for (const a of appended) if (!a.duplicate) fresh++;
  metrics.sequenced(fresh);
  return appended;
}

async function connectStores(c: Config, l: Logger): Promise<Stores> {
  if (!c.redisUrl) return memoryStores({ historyLimit: c.historyLimit });
  const { redisStores } = await import("./store/redis/stores.ts");
  try {
    return await redisStores(c.redisUrl, { namespace: c.namespace, historyLimit: c.historyLimit, log: l });
  } catch (err) {
    // The store's own message names the URL, password masked.
    console.error(`duplex: ${err instanceof DuplexError ? err.message : `cannot use Redis at ${maskUrl(c.redisUrl)}: ${String(err)}`}`);
    runtimeModule.exit(1);
  }
}

async function createBroker(c: Config, l: Logger): Promise<Broker> {
  const common = { namespace: c.namespace, shards: c.shards, nodeId: c.nodeId, sendTimeoutMs: c.sendTimeoutMs, log: l };
  if (c.amqpUrl) {
    const { rabbitmqBroker } = await import("./broker/rabbitmq/broker.ts");
    return rabbitmqBroker(c.amqpUrl, { ...common, queueType: c.queueType });
  }
  if (c.redisUrl) {
    const { redisBroker } = await import("./broker/redis.ts");
    return redisBroker(c.redisUrl, common);
  }
  return new MemoryBroker({ shards: c.shards });
}

async function asset(path: string): Promise<string> {
  try {
    return await readFile(new URL(path, import.meta.url), "utf8");
  } catch {
    return `missing ${path}`;
  }
}

/** The first minute: a token and URLs to paste. Printed for people, so not a log line. */
async function printDevToken(base: string): Promise<void> {
  const token = await mintToken("alice", secret, Math.min(24 * 3600, config.maxTokenTtl));
  const ws = base.replace(/^http/, "ws");
  console.error([
    "",
    "duplex is in dev mode: DUPLEX_JWT_SECRET is unset, so tokens are signed with a random secret for this process.",
    `  token for user "alice": ${token}`,
    `  WebSocket:  ${ws}/ws?token=${token}&device=laptop`,
    `  demo page:  ${base}/?token=${token}&device=laptop`,
    `  more users: curl -s -X POST ${base}/api/dev/token -H 'content-type: application/json' -d '{"user":"bob"}'`,
    "",
  ].join("\n"));
}
