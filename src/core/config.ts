/**
 * Every setting a node reads from its environment, in one table: the node, the CLI and
 * the reference docs all read it from here (CONTRACT §1).
 */
import { duplexError } from "./errors.ts";

type Env = Record<string, string | undefined>;

interface Setting<T> {
  env: string;
  /** Shown in the reference; `undefined` means "unset" and is explained in `doc`. */
  default: string | undefined;
  doc: string;
  parse(raw: string | undefined, env: Env): T;
}

const int = (name: string, min: number, max: number, fallback: number) =>
  (raw: string | undefined): number => {
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw duplexError("bad_request", `${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };

function str(fallback: string): (raw: string | undefined) => string;
function str(fallback: undefined): (raw: string | undefined) => string | undefined;
function str(fallback: string | undefined) {
  return (raw: string | undefined) => raw === undefined || raw === "" ? fallback : raw;
}

const oneOf = <T extends string>(name: string, values: readonly T[], fallback: T) =>
  (raw: string | undefined): T => {
    if (raw === undefined || raw === "") return fallback;
    if (!(values as readonly string[]).includes(raw)) {
      throw duplexError("bad_request", `${name} must be one of ${values.join(", ")}, got "${raw}"`);
    }
    return raw as T;
  };

const namespacePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const SETTINGS = {
  port: { env: "PORT", default: "8080", doc: "HTTP/WebSocket port (0 picks a free one)", parse: int("PORT", 0, 65535, 8080) },
  host: { env: "HOST", default: "127.0.0.1", doc: "bind address", parse: str("127.0.0.1") },
  nodeId: {
    env: "NODE_ID", default: undefined, doc: "this node's id, unique in a cluster (unset: generated once per process)",
    parse: (raw: string | undefined) => {
      if (raw === undefined || raw === "") return `n-${crypto.randomUUID().slice(0, 8)}`;
      if (!namespacePattern.test(raw)) throw duplexError("bad_request", `NODE_ID must be 1-64 letters, digits, '.', '_' or '-', got "${raw}"`);
      return raw;
    },
  },
  redisUrl: { env: "REDIS_URL", default: undefined, doc: "Redis for sessions, presence, sequences and history (unset: in-memory store)", parse: str(undefined) },
  amqpUrl: { env: "AMQP_URL", default: undefined, doc: "RabbitMQ for ordered shards and broadcast; the brokers of one cluster comma-separated, tried in turn (unset: in-process broker)", parse: str(undefined) },
  jwtSecret: { env: "DUPLEX_JWT_SECRET", default: undefined, doc: "HS256 secret that verifies access tokens (unset: a random dev secret, printed with a dev token)", parse: str(undefined) },
  shards: { env: "DUPLEX_SHARDS", default: "16", doc: "number of ordered shard queues; every node of a cluster must agree", parse: int("DUPLEX_SHARDS", 1, 1024, 16) },
  queueType: { env: "DUPLEX_QUEUE_TYPE", default: "quorum", doc: "RabbitMQ queue type of the shard queues", parse: oneOf("DUPLEX_QUEUE_TYPE", ["quorum", "classic"] as const, "quorum") },
  namespace: {
    env: "DUPLEX_NAMESPACE", default: "duplex", doc: "prefix of every Redis key and RabbitMQ exchange and queue",
    parse: (raw: string | undefined) => {
      const v = raw === undefined || raw === "" ? "duplex" : raw;
      if (!namespacePattern.test(v)) throw duplexError("bad_request", `DUPLEX_NAMESPACE must be 1-64 letters, digits, '.', '_' or '-', got "${v}"`);
      return v;
    },
  },
  allowedOrigins: {
    env: "DUPLEX_ALLOWED_ORIGINS", default: undefined, doc: "comma-separated Origin allow-list for upgrades (unset: any origin in development, none in production)",
    parse: (raw: string | undefined) => raw === undefined || raw.trim() === "" ? null : raw.split(",").map((o) => o.trim()).filter(Boolean),
  },
  maxMessageBytes: { env: "DUPLEX_MAX_MESSAGE_BYTES", default: "65536", doc: "largest accepted client frame, in bytes", parse: int("DUPLEX_MAX_MESSAGE_BYTES", 256, 16 * 1024 * 1024, 65536) },
  rate: { env: "DUPLEX_RATE", default: "100", doc: "frames per second a connection may send, sustained (burst: 5x)", parse: int("DUPLEX_RATE", 1, 1_000_000, 100) },
  heartbeatMs: { env: "DUPLEX_HEARTBEAT_MS", default: "25000", doc: "ping interval; a silent peer is closed after two intervals", parse: int("DUPLEX_HEARTBEAT_MS", 200, 600_000, 25000) },
  maxBufferedBytes: { env: "DUPLEX_MAX_BUFFERED_BYTES", default: "4194304", doc: "unsent bytes a slow reader may hold before it is closed (1013)", parse: int("DUPLEX_MAX_BUFFERED_BYTES", 65536, 1 << 30, 4 * 1024 * 1024) },
  sendTimeoutMs: { env: "DUPLEX_SEND_TIMEOUT_MS", default: "10000", doc: "longest a send waits to be sequenced before it is answered unavailable", parse: int("DUPLEX_SEND_TIMEOUT_MS", 100, 600_000, 10000) },
  drainMs: { env: "DUPLEX_DRAIN_MS", default: "5000", doc: "on SIGTERM, sockets are closed (1001) spread over this window so clients do not reconnect all at once", parse: int("DUPLEX_DRAIN_MS", 0, 600_000, 5000) },
  historyLimit: { env: "DUPLEX_HISTORY_LIMIT", default: "10000", doc: "messages kept per conversation; older ones are trimmed", parse: int("DUPLEX_HISTORY_LIMIT", 1, 10_000_000, 10000) },
  production: {
    env: "DUPLEX_ENV", default: "development", doc: "production requires DUPLEX_JWT_SECRET, turns the dev token endpoint off and enforces the Origin allow-list",
    parse: (raw: string | undefined) => oneOf("DUPLEX_ENV", ["development", "production"] as const, "development")(raw) === "production",
  },
  logLevel: { env: "LOG_LEVEL", default: "info", doc: "least severe log level written", parse: oneOf("LOG_LEVEL", ["debug", "info", "warn", "error"] as const, "info") },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof SETTINGS;
export type Config = { [K in keyof Settings]: ReturnType<Settings[K]["parse"]> };

/** Reads and validates every setting; throws a DuplexError naming the first bad variable. */
export function loadConfig(env: Env): Config {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    out[key] = s.parse(env[s.env], env);
  }
  const config = out as Config;
  if (config.amqpUrl && !config.redisUrl) {
    // Shard owners on different nodes sequence into one store; a memory store per node would fork history.
    throw duplexError("bad_request", "AMQP_URL needs REDIS_URL: the nodes of a cluster share sequences and history in Redis");
  }
  if (config.production && !config.jwtSecret) {
    throw duplexError("bad_request", "DUPLEX_ENV=production requires DUPLEX_JWT_SECRET");
  }
  return config;
}

/** A URL safe to print: the password is masked. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@");
  }
}
