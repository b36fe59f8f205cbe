/**
 * The systems under test, each behind one shape: its nodes, the wire its clients speak,
 * and how conversations are made. duplex nodes start exactly as CONTRACT §1 says (Node
 * runs `node --import tsx`, the loader `tsx` uses, without its wrapper process, so the
 * pid measured is the server's).
 */
import { join } from "node:path";
import type { Proto } from "../load/codec.ts";
import { loadConfig } from "../../src/core/config.ts";
import { mintToken } from "../../src/http/auth.ts";
import { NODE_COMMANDS, NODE_UNWRAPPED, type RuntimeName, untilReady } from "../../test/nodes.ts";
import { GC_LOG } from "./gc.ts";
import { BIN, type Server, startServer } from "./spawn.ts";

export type Runtime = RuntimeName;

export interface Target {
  /** Stable key for the report: duplex-bun, duplex-cluster, bare, socketio, socketio-cluster, … */
  id: string;
  label: string;
  proto: Proto;
  secret: string;
  nodes: Server[];
  /** ws://127.0.0.1:port of each node. */
  bases: string[];
  /** Creates conversations (member lists, first member as creator); returns their ids in order. */
  conversations(memberLists: string[][]): Promise<string[]>;
  stop(): Promise<void>;
}

const RUNTIME_CMD: Record<Runtime, string[]> = { ...NODE_COMMANDS, node: NODE_UNWRAPPED };

/**
 * BENCH_PROFILE=DIR: every duplex node on Bun writes a CPU profile (markdown, one per node)
 * into DIR when it stops, the evidence to read before optimising a path.
 */
function command(runtime: Runtime, profileDir?: string): string[] {
  const dir = profileDir ?? process.env.BENCH_PROFILE;
  if (runtime !== "bun" || !dir) return RUNTIME_CMD[runtime];
  const [bin, ...rest] = RUNTIME_CMD.bun;
  return [bin, "--cpu-prof-md", `--cpu-prof-dir=${dir}`, ...rest];
}

const secret = () => `bench-${crypto.randomUUID()}`;

function target(id: string, label: string, proto: Proto, key: string, nodes: Server[], make: (members: string[]) => Promise<string>): Target {
  return {
    id, label, proto, secret: key, nodes,
    bases: nodes.map((n) => `ws://127.0.0.1:${n.port}`),
    conversations: (lists) => inBatches(lists, make),
    stop: async () => { await Promise.all(nodes.map((n) => n.stop())); },
  };
}

async function inBatches<T, R>(items: T[], fn: (item: T) => Promise<R>, width = 32): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...await Promise.all(items.slice(i, i + width).map(fn)));
  return out;
}

/**
 * A request that goes out on a kept-alive connection as the server closes it for idling
 * (Node's http server does after 5 s) fails with ECONNRESET before the server read it: it is
 * sent once more. Every POST here makes a conversation, which at worst is made twice.
 */
async function post(url: string, body: unknown, token?: string): Promise<{ id: string }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method: "POST", headers, body: JSON.stringify(body) };
  const res = await fetch(url, init).catch((err) => {
    if (!String(err).includes("ECONNRESET")) throw err;
    return fetch(url, init);
  });
  if (res.status !== 201) throw new Error(`POST ${url} answered ${res.status}: ${await res.text()}`);
  return res.json() as Promise<{ id: string }>;
}

export interface DuplexOptions {
  runtime: Runtime;
  nodes: number;
  logDir: string;
  namespace: string;
  redisUrl?: string;
  amqpUrl?: string;
  /** DUPLEX_QUEUE_TYPE of a cluster; the node's default (quorum) when unset. */
  queueType?: "classic" | "quorum";
  /** Bun only: each node writes a CPU profile (markdown) into this directory when it stops. */
  profileDir?: string;
}

/**
 * duplex nodes. DUPLEX_RATE is raised: one load connection sends for many users, and
 * the per-connection limit (100/s by default) is a guard against abuse, not a cost.
 */
export async function duplex(o: DuplexOptions): Promise<Target> {
  const key = secret();
  const env: Record<string, string> = { PORT: "0", DUPLEX_JWT_SECRET: key, DUPLEX_NAMESPACE: o.namespace, DUPLEX_RATE: "1000000", LOG_LEVEL: "info" };
  if (o.redisUrl) env.REDIS_URL = o.redisUrl;
  if (o.amqpUrl) env.AMQP_URL = o.amqpUrl;
  if (o.queueType) env.DUPLEX_QUEUE_TYPE = o.queueType;
  if (o.runtime === "bun") Object.assign(env, GC_LOG);
  const nodes = await Promise.all(Array.from({ length: o.nodes }, (_, i) => {
    const name = `${o.namespace}-${o.runtime}-${i}`;
    return startServer({ name, cmd: command(o.runtime, o.profileDir), env: { ...env, NODE_ID: name }, log: join(o.logDir, `${name}.log`) });
  }));
  await Promise.all(nodes.map((n) => untilReady(n.port, { timeoutMs: 30_000 })));
  const queues = o.queueType ? `, ${o.queueType} shard queues` : "";
  const label = o.nodes > 1 ? `duplex ×${o.nodes} (${o.runtime}, Redis + RabbitMQ${queues})` : `duplex (${o.runtime})`;
  const base = `http://127.0.0.1:${nodes[0].port}`;
  const id = o.nodes > 1 ? `duplex-cluster${o.queueType ? `-${o.queueType}` : ""}` : `duplex-${o.runtime}`;
  return target(id, label, "duplex", key, nodes, async (members) =>
    (await post(`${base}/api/conversations`, { members }, await mintToken(members[0], key))).id
  );
}

/** How many shards there are and which each node sequences, from the nodes' /healthz. */
export async function owners(t: Target): Promise<{ shards: number; owned: number[][] }> {
  const health = await Promise.all(t.nodes.map(async (n) =>
    (await (await fetch(`http://127.0.0.1:${n.port}/healthz`)).json()) as { shards: number; owned: number[] }
  ));
  return { shards: health[0].shards, owned: health.map((h) => h.owned) };
}

/** The floor; `loop` fans out with one send per socket instead of Bun's pub/sub. */
export async function bare(logDir: string, fanout: "publish" | "loop" = "publish"): Promise<Target> {
  const name = fanout === "loop" ? "bare-loop" : "bare";
  const node = await startServer({ name, cmd: [`${BIN}/bun`, "run", "bench/baseline/bare-bun.ts"], env: { PORT: "0", BARE_FANOUT: fanout, ...GC_LOG }, log: join(logDir, `${name}.log`) });
  const label = fanout === "loop" ? "bare Bun.serve, send loop" : "bare Bun.serve";
  return target(name, label, "bare", "", [node], async (members) =>
    (await post(`http://127.0.0.1:${node.port}/api/conversations`, { members })).id
  );
}

/**
 * The floor of the cluster: bare-bun.ts ×`nodes`, its sends crossing RabbitMQ as duplex's
 * do; with `redisUrl` each batch is also stored in one RPUSH before it is fanned out.
 */
export async function bareCluster(o: { nodes: number; logDir: string; namespace: string; amqpUrl: string; redisUrl?: string }): Promise<Target> {
  const env: Record<string, string> = { PORT: "0", BARE_AMQP_URL: o.amqpUrl, BARE_NAMESPACE: o.namespace, BARE_NODES: String(o.nodes), BARE_SHARDS: String(loadConfig({}).shards) };
  if (o.redisUrl) env.BARE_REDIS_URL = o.redisUrl;
  const nodes = await Promise.all(Array.from({ length: o.nodes }, (_, i) => startServer({
    name: `bare-cluster-${i}`, cmd: [`${BIN}/bun`, "run", "bench/baseline/bare-bun.ts"], env: { ...env, BARE_NODE: String(i) }, log: join(o.logDir, `${o.namespace}-bare-${i}.log`),
  })));
  const [id, label] = o.redisUrl ? ["bare-cluster-store", "RabbitMQ + a Redis append"] : ["bare-cluster", "RabbitMQ only"];
  return target(id, `bare Bun.serve ×${o.nodes} (${label})`, "bare", "", nodes, async (members) => {
    const conv = crypto.randomUUID();
    await Promise.all(nodes.map((n) => post(`http://127.0.0.1:${n.port}/api/conversations`, { id: conv, members })));
    return conv;
  });
}

/**
 * The floor for memory on Node, and on Deno through its Node compatibility layer: a bare
 * `ws` server on node:http, the server duplex's runtime uses on both.
 */
export async function bareWs(logDir: string, runtime: "node" | "deno" = "node"): Promise<Target> {
  const script = "bench/baseline/bare-ws.ts";
  const cmd = runtime === "node" ? ["node", "--import", "tsx", script] : [`${BIN}/deno`, "run", "-A", script];
  const id = runtime === "node" ? "bare-ws" : "bare-ws-deno";
  const server = await startServer({ name: id, cmd, env: { PORT: "0" }, log: join(logDir, `${id}.log`) });
  return target(id, `bare ws (${runtime})`, "bare", "", [server], () => Promise.reject(new Error("bare ws holds idle connections only")));
}

export async function socketIo(o: { nodes: number; logDir: string; namespace: string; redisUrl?: string }): Promise<Target> {
  const key = secret();
  const env: Record<string, string> = { PORT: "0", DUPLEX_JWT_SECRET: key, DUPLEX_NAMESPACE: o.namespace };
  if (o.redisUrl) env.REDIS_URL = o.redisUrl;
  const nodes = await Promise.all(Array.from({ length: o.nodes }, (_, i) =>
    startServer({ name: `socketio-${i}`, cmd: ["node", "--import", "tsx", "bench/peer/socketio.ts"], env, log: join(o.logDir, `${o.namespace}-socketio-${i}.log`) })
  ));
  const label = o.nodes > 1 ? `Socket.IO ×${o.nodes} (node, redis-adapter)` : "Socket.IO (node)";
  return target(o.nodes > 1 ? "socketio-cluster" : "socketio", label, "socketio", key, nodes, async (members) => {
    const id = crypto.randomUUID();
    await Promise.all(nodes.map((n) => post(`http://127.0.0.1:${n.port}/api/conversations`, { id, members })));
    return id;
  });
}
