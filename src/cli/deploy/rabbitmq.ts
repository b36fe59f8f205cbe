/**
 * `duplex rabbitmq`: rabbitmq.conf and a definitions.json built from `topology()`, the very
 * function the nodes declare their exchanges, queues and bindings from.
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { topology } from "../../broker/rabbitmq/topology.ts";
import { SETTINGS } from "../../core/config.ts";
import { type CommandDoc, flag, flags, intFlag, settingFlag, type Values } from "../flags.ts";
import { bad, render, type Rendered, safePath } from "./render.ts";

export const RABBITMQ_FLAGS = flags(
  settingFlag("namespace", "NAME", SETTINGS.namespace, { doc: "prefix of every exchange and queue" }),
  settingFlag("shards", "N", SETTINGS.shards, { doc: "ordered shard queues; the same number the nodes run with" }),
  settingFlag("queue-type", "quorum|classic", SETTINGS.queueType, { doc: "type of the shard queues" }),
  flag({ name: "vhost", arg: "NAME", default: "/", values: "1-255 letters, digits, '/', '_', '.' or '-'", doc: "virtual host of every object" }),
  flag({
    name: "user", arg: "NAME", values: "1-128 letters, digits, '_', '.', '@' or '-'; needs RABBITMQ_PASSWORD",
    doc: "also create the vhost and a user for the nodes, allowed only this namespace's objects. " +
      "A fresh broker that loads definitions at boot creates neither guest nor /: it needs this",
    guards: "one deployment's nodes touching another's exchanges and queues",
  }),
  intFlag("heartbeat", "S", 1, 600, 5, {
    doc: "AMQP heartbeat the broker offers, in seconds",
    guards: "frozen nodes and lost machines: their shards wait two or three missed heartbeats before moving on",
  }),
  intFlag("consumer-timeout-ms", "N", 1000, 86_400_000, 60_000, {
    doc: "longest a delivery may stay unacknowledged",
    guards: "a node that is connected but stuck holding a shard: past it its channel is closed and the shard moves on",
  }),
  flag({
    name: "definitions-path", arg: "FILE", default: "DIR/definitions.json with --out, else /etc/rabbitmq/definitions.json",
    doc: "where rabbitmq.conf loads definitions.json from",
  }),
  flag({
    name: "cluster-node", arg: "rabbit@HOST", multiple: true, values: "name@host",
    doc: "a member of a broker cluster; the brokers find each other through this list, by classic config peer discovery. " +
      "definitions.json then holds the exchanges only: the nodes declare the shard queues once every broker is up",
  }),
  flag({ name: "out", arg: "DIR", doc: "write DIR/rabbitmq.conf and DIR/definitions.json; without it, print definitions.json" }),
);

export const RABBITMQ_COMMAND: CommandDoc = {
  usage: "duplex rabbitmq [options]",
  summary: "rabbitmq.conf and definitions.json for a namespace",
  flags: RABBITMQ_FLAGS,
  env: [{ env: "RABBITMQ_PASSWORD", values: "16 or more characters; only with --user", doc: "the password of the --user" }],
};

export type RabbitmqFlags = Values<typeof RABBITMQ_FLAGS>;
type Definition = Record<string, unknown>;

export interface RabbitmqConf {
  namespace: string;
  heartbeatS: number;
  consumerTimeoutMs: number;
  definitionsPath: string;
  user: string | null;
  clusterNodes: string[];
  /** The broker's definitions format: every object names its vhost. */
  definitions: Record<"vhosts" | "users" | "permissions" | "exchanges" | "queues" | "bindings", Definition[]>;
}

export function rabbitmqConf(v: RabbitmqFlags, env: Record<string, string | undefined>): RabbitmqConf {
  const namespace = RABBITMQ_FLAGS.namespace.parse(v.namespace, env);
  const shards = RABBITMQ_FLAGS.shards.parse(v.shards, env);
  const queueType = RABBITMQ_FLAGS["queue-type"].parse(v["queue-type"], env);
  const vhost = v.vhost ?? RABBITMQ_FLAGS.vhost.default;
  if (!/^[A-Za-z0-9/_.-]{1,255}$/.test(vhost)) bad("--vhost", `must be 1-255 letters, digits, '/', '_', '.' or '-', got "${vhost}"`);
  const t = topology({ namespace, shards, queueType });
  const clusterNodes = (v["cluster-node"] ?? []).map((n) => {
    if (!/^[A-Za-z0-9_.-]{1,64}@[A-Za-z0-9_.-]{1,253}$/.test(n)) bad("--cluster-node", `must look like rabbit@host, got "${n}"`);
    return n;
  });
  // A broker creates the queues of its definitions file when it boots, alone, before its
  // peers join: a quorum queue made then has a member on that broker only, and dies with it.
  // In a cluster the nodes declare the shard queues once every broker is up, so each queue
  // gets a member on each.
  const queues = clusterNodes.length > 0 ? [] : t.queues;
  const bindings = clusterNodes.length > 0 ? [] : t.bindings;
  return {
    namespace,
    heartbeatS: RABBITMQ_FLAGS.heartbeat.parse(v.heartbeat),
    consumerTimeoutMs: RABBITMQ_FLAGS["consumer-timeout-ms"].parse(v["consumer-timeout-ms"]),
    user: v.user ?? null,
    clusterNodes,
    definitionsPath: v["definitions-path"] !== undefined
      ? safePath("--definitions-path", v["definitions-path"])
      : v.out !== undefined ? resolve(safePath("--out", v.out), "definitions.json") : "/etc/rabbitmq/definitions.json",
    definitions: {
      ...access(v.user, env.RABBITMQ_PASSWORD, namespace, vhost),
      // Fields topology() leaves out are the declare defaults the nodes use as well.
      exchanges: t.exchanges.map((e) => ({
        name: e.name, vhost, type: e.type, durable: e.durable, auto_delete: false, internal: false, arguments: {},
      })),
      queues: queues.map((q) => ({ name: q.name, vhost, durable: q.durable, auto_delete: false, arguments: q.arguments })),
      bindings: bindings.map((b) => ({
        source: b.source, vhost, destination: b.destination, destination_type: "queue", routing_key: b.routingKey, arguments: {},
      })),
    },
  };
}

/**
 * The vhost and the nodes' user, limited to resources named `<namespace>.*` (their own node
 * queues included). Only with --user: importing a vhost that exists resets its description
 * and tags, so a file for an existing broker leaves vhosts and users alone.
 */
function access(name: string | undefined, password: string | undefined, namespace: string, vhost: string) {
  if (name === undefined) {
    if (password) bad("RABBITMQ_PASSWORD", "is set but --user is not: name the user it belongs to");
    return { vhosts: [], users: [], permissions: [] };
  }
  if (!/^[A-Za-z0-9_.@-]{1,128}$/.test(name)) bad("--user", `must be 1-128 letters, digits, '_', '.', '@' or '-', got "${name}"`);
  if (!password || password.length < 16) bad("--user", "needs RABBITMQ_PASSWORD, at least 16 characters, in the environment");
  const own = `^${namespace.replace(/\./g, "\\.")}\\.`;
  return {
    vhosts: [{ name: vhost }],
    users: [{ name, password_hash: sha256Hash(password), hashing_algorithm: "rabbit_password_hashing_sha256", tags: [] }],
    permissions: [{ user: name, vhost, configure: own, write: own, read: own }],
  };
}

/** RabbitMQ's rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt. */
function sha256Hash(password: string): string {
  const salt = randomBytes(4);
  const digest = createHash("sha256").update(salt).update(password, "utf8").digest();
  return Buffer.concat([salt, digest]).toString("base64");
}

export function renderRabbitmq(conf: RabbitmqConf): Rendered {
  const definitions = render("rabbitmq/definitions.json.eta", conf);
  return {
    files: { "rabbitmq.conf": render("rabbitmq/rabbitmq.conf.eta", conf), "definitions.json": definitions },
    stdout: definitions,
  };
}
