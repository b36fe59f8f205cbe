/**
 * Every setting a node reads from its environment, in one table: the node, the CLI and
 * the reference docs all read it from here (CONTRACT §1).
 */
import { parseRange, type Range } from "./client-ip.ts";
import { SLOW_GRACE_MS, SLOW_HARD_FACTOR } from "./connection.ts";
import { duplexError } from "./errors.ts";
import { DEFAULT_MAX_BODY_DEPTH, MAX_ID, MAX_MEMBERS } from "./protocol.ts";
import { HEARTBEAT, MIN_HEARTBEAT_MS } from "./heartbeat-figures.ts";

type Env = Record<string, string | undefined>;

/**
 * An HTTP request body's floor, whatever DUPLEX_MAX_MESSAGE_BYTES: room for the largest
 * valid member list however a client writes it. One character takes at most 12 bytes of
 * JSON (an astral one as two \uXXXX escapes); each member adds its quotes, a comma and a
 * little whitespace (8 bytes), and the object around the list gets 1 KiB.
 */
export const MIN_BODY_BYTES = MAX_MEMBERS * (MAX_ID * 12 + 8) + 1024;

/**
 * What shutdown may take beyond DUPLEX_DRAIN_MS (handing shards over, closing the store and
 * broker) before a stopping node exits 1 anyway; a supervisor's stop timeout must exceed both.
 */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface Setting<T> {
  env: string;
  /** Shown in the reference; `undefined` means "unset" and is explained in `doc`. */
  default: string | undefined;
  /** The values `parse` accepts, as the reference states them; the builders below derive it from the check itself. */
  values: string;
  doc: string;
  /** The limit or failure the setting guards against, and what happens past it; absent for plain choices. */
  guards?: string;
  parse(raw: string | undefined, env?: Env): T;
}

type About = Pick<Setting<unknown>, "doc" | "guards">;

const int = (env: string, min: number, max: number, fallback: number, about: About): Setting<number> => ({
  env, default: String(fallback), values: `${min} to ${max}`, ...about,
  parse(raw) {
    if (raw === undefined || raw === "") return fallback;
    return decimal(env, raw, min, max);
  },
});

/**
 * A plain decimal integer from `min` to `max`: no exponent, hex, sign, spaces or leading
 * zeros, which Number() would accept and other readers of the same value might not.
 */
export function decimal(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^(0|-?[1-9][0-9]*)$/.test(raw) || n < min || n > max) {
    throw duplexError("bad_request", `${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

/** A string taken as given: `values` says what makes sense, since nothing here can check it. */
const text = <D extends string | undefined>(env: string, fallback: D, values: string, about: About): Setting<string | D> => ({
  env, default: fallback, values, ...about,
  parse: (raw) => raw === undefined || raw === "" ? fallback : raw,
});

const oneOf = <const T extends string>(env: string, values: readonly T[], fallback: T, about: About): Setting<T> => ({
  env, default: fallback, values: values.join(", "), ...about,
  parse(raw) {
    if (raw === undefined || raw === "") return fallback;
    if (!(values as readonly string[]).includes(raw)) {
      throw duplexError("bad_request", `${env} must be one of ${values.join(", ")}, got "${raw}"`);
    }
    return raw as T;
  },
});

/** A duration written like `duplex token --ttl` (90s, 15m, 1h, 7d), in seconds. */
const duration = (env: string, maxDays: number, fallback: string, about: About): Setting<number> => ({
  env, default: fallback, values: `90s, 15m, 1h, 7d or plain seconds; 1s to ${maxDays}d`, ...about,
  parse(raw) {
    const v = raw === undefined || raw === "" ? fallback : raw;
    let seconds = NaN;
    try {
      seconds = parseTtl(v);
    } catch {
      // Reported below, naming the variable rather than the CLI flag.
    }
    if (!(seconds >= 1 && seconds <= maxDays * 86400)) {
      throw duplexError("bad_request", `${env} must be a duration from 1s to ${maxDays}d such as 90s, 15m, 1h or 7d, got "${v}"`);
    }
    return seconds;
  },
});

/** Address ranges, comma-separated, or "none". */
const ranges = (env: string, fallback: string, about: About): Setting<Range[]> => ({
  env, default: fallback, values: "IP addresses and CIDR ranges (10.0.0.0/8, ::1), comma-separated, or none", ...about,
  parse(raw) {
    const v = raw === undefined || raw.trim() === "" ? fallback : raw.trim();
    if (v === "none") return [];
    return v.split(",").map((entry) => entry.trim()).filter(Boolean).map((entry) => {
      const range = parseRange(entry);
      if (!range) throw duplexError("bad_request", `${env} must list IP addresses or CIDR ranges, or be none; "${entry}" is neither`);
      return range;
    });
  },
});

const NAME = { pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, values: "1-64 letters, digits, '.', '_' or '-'" };

/** A name that ends up inside Redis keys and RabbitMQ queue names; `fallback` makes one when unset. */
const name = (env: string, fallback: () => string, shown: string | undefined, about: About): Setting<string> => ({
  env, default: shown, values: NAME.values, ...about,
  parse(raw) {
    const v = raw === undefined || raw === "" ? fallback() : raw;
    if (!NAME.pattern.test(v)) throw duplexError("bad_request", `${env} must be ${NAME.values}, got "${v}"`);
    return v;
  },
});

const ENVIRONMENT = oneOf("DUPLEX_ENV", ["development", "production"], "development", {
  doc: "production requires DUPLEX_JWT_SECRET, turns the dev token endpoint off and enforces the Origin allow-list",
  guards: "shipping development conveniences: an open token endpoint, a random secret, any origin",
});

export const SETTINGS = {
  port: int("PORT", 0, 65535, 8080, { doc: "HTTP/WebSocket port (0 picks a free one)" }),
  host: text("HOST", "127.0.0.1", "an address of this machine", {
    doc: "bind address", guards: "exposure: by default only this machine can connect",
  }),
  nodeId: name("NODE_ID", () => `n-${crypto.randomUUID().slice(0, 8)}`, undefined, {
    doc: "this node's id, unique in a cluster (unset: generated once per process)",
  }),
  redisUrl: text("REDIS_URL", undefined, "a redis:// or rediss:// URL", {
    doc: "Redis for sessions, presence, sequences and history (unset: in-memory store)",
  }),
  amqpUrl: text("AMQP_URL", undefined, "amqp:// or amqps:// URLs, comma-separated; needs REDIS_URL", {
    doc: "RabbitMQ for ordered shards and broadcast; the brokers of one cluster comma-separated, tried in turn (unset: in-process broker)",
    guards: "one broker's failure: the node reconnects to the next URL",
  }),
  jwtSecret: text("DUPLEX_JWT_SECRET", undefined, "any string; required in production", {
    doc: "HS256 secret that verifies access tokens (unset: a random dev secret, printed with a dev token)",
    guards: "forged tokens: only holders of the secret can mint one",
  }),
  maxTokenTtl: duration("DUPLEX_MAX_TOKEN_TTL", 365, "24h", {
    doc: "longest an access token may still be valid when it is presented (exp minus now); a token without exp is refused",
    guards: "a leaked token being good for ever: a token without exp, or expiring later than this, is refused with 401",
  }),
  trustedProxies: ranges("DUPLEX_TRUSTED_PROXIES", "127.0.0.0/8,::1", {
    doc: "peers whose X-Real-IP (else X-Forwarded-For) names the client's address in the node's logs; " +
      "from any other peer the connection's own address is logged. The default trusts a proxy on this machine",
    guards: "forged client addresses: what other peers claim in those headers is ignored",
  }),
  shards: int("DUPLEX_SHARDS", 1, 1024, 16, {
    doc: "number of ordered shard queues; every node of a cluster must agree",
    guards: "broker load: each shard is one queue and one consumer per node",
  }),
  queueType: oneOf("DUPLEX_QUEUE_TYPE", ["quorum", "classic"], "quorum", {
    doc: "RabbitMQ queue type of the shard queues",
    guards: "broker failure: quorum queues keep sends that were accepted when a broker of the cluster dies",
  }),
  namespace: name("DUPLEX_NAMESPACE", () => "duplex", "duplex", {
    doc: "prefix of every Redis key and RabbitMQ exchange and queue",
    guards: "collisions between deployments that share one Redis or RabbitMQ",
  }),
  allowedOrigins: {
    env: "DUPLEX_ALLOWED_ORIGINS", default: undefined, values: "origins such as https://chat.example.com, comma-separated",
    doc: "Origin allow-list for upgrades (unset: any origin in development, none in production)",
    guards: "cross-site WebSocket hijacking: a foreign page opening sockets from a user's browser; refused with 403",
    parse: (raw: string | undefined) => raw === undefined || raw.trim() === "" ? null : raw.split(",").map((o) => o.trim()).filter(Boolean),
  },
  maxMessageBytes: int("DUPLEX_MAX_MESSAGE_BYTES", 256, 16 * 1024 * 1024, 65536, {
    doc: `largest accepted client message, in bytes; an HTTP request body may hold this or ${MIN_BODY_BYTES} bytes ` +
      `(${MAX_MEMBERS} members of ${MAX_ID} characters, each written as JSON escapes), whichever is larger`,
    guards: "memory and fairness per frame: one message cannot exhaust a node or hold up the frames behind it; " +
      "past it the socket is closed with 1009, an HTTP request answered 413 too_large",
  }),
  maxBodyDepth: int("DUPLEX_MAX_BODY_DEPTH", 2, 512, DEFAULT_MAX_BODY_DEPTH, {
    doc: "deepest nesting of arrays and objects in a send's body (a scalar is 0 levels, [1] is 1), and in a JSON body of the HTTP API. " +
      "At least 2: the API's own bodies hold an array in an object",
    guards: "stack exhaustion: JSON.stringify recurses, and a small body nested a few thousand levels would crash the node that encodes it " +
      "(Node, at about 5,000 levels). Past it the send is answered bad_request naming the field",
  }),
  rate: int("DUPLEX_RATE", 1, 1_000_000, 100, {
    doc: "frames per second a connection may send, sustained; bursts up to 5x",
    guards: "flooding: past it frames are answered rate_limited, and a client that keeps on is closed with 1008",
  }),
  heartbeatMs: int("DUPLEX_HEARTBEAT_MS", MIN_HEARTBEAT_MS, 600_000, 25000, {
    doc: `ping interval h; a dead peer is dropped within ${HEARTBEAT.reap} h on every runtime, inside the contract's ` +
      `two intervals. At least ${MIN_HEARTBEAT_MS}, which keeps the node's timer (four ticks per interval) at 250 ms or more`,
    guards: "half-open TCP (a vanished peer's session lingering in presence) and proxy or NAT idle timeouts cutting quiet sockets",
  }),
  maxBufferedBytes: int("DUPLEX_MAX_BUFFERED_BYTES", 65536, 1 << 30, 4 * 1024 * 1024, {
    doc: `unsent bytes a reader may hold: over it for more than ${SLOW_GRACE_MS} ms, or over ${SLOW_HARD_FACTOR} times it at once, the socket is closed with 1013`,
    guards: "slow readers: a client that does not read cannot make the node buffer without end",
  }),
  sendTimeoutMs: int("DUPLEX_SEND_TIMEOUT_MS", 100, 600_000, 10000, {
    doc: "longest a send waits to be sequenced before it is answered unavailable",
    guards: "sends hanging while the store or broker is down: the client resends with the same id",
  }),
  requestTimeoutMs: int("DUPLEX_REQUEST_TIMEOUT_MS", 10_000, 255_000, 10000, {
    doc: "longest a client may take to send one whole HTTP request, headers and body, counted from its first byte; " +
      "then the connection is closed (Node and Deno answer 408 first). At least 10000: Bun reads headers under a fixed 10 s limit " +
      "and counts bodies in whole seconds, closing up to 2 s late",
    guards: "slowloris: clients that send headers or a body slowly, or never finish, holding connections and descriptors",
  }),
  drainMs: int("DUPLEX_DRAIN_MS", 0, 600_000, 5000, {
    doc: "on SIGTERM, sockets are closed (1001) spread over this window",
    guards: "reconnect storms: the clients of a stopping node do not all reconnect at once",
  }),
  historyLimit: int("DUPLEX_HISTORY_LIMIT", 1, 10_000_000, 10000, {
    doc: "messages kept per conversation",
    guards: "unbounded storage: older messages are trimmed and no longer returned by sync or the history API",
  }),
  production: { ...ENVIRONMENT, parse: (raw: string | undefined) => ENVIRONMENT.parse(raw) === "production" },
  logLevel: oneOf("LOG_LEVEL", ["debug", "info", "warn", "error"], "info", { doc: "least severe log level written" }),
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

/**
 * ttl such as "90s", "15m", "1h", "7d", or plain seconds.
 */
export function parseTtl(raw: string): number {
  const m = raw.match(/^(\d+)([smhd]?)$/);
  if (!m) throw duplexError("bad_request", `--ttl must look like 90s, 15m, 1h or 7d, got "${raw}"`);
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}
