/**
 * `duplex redis-conf`: redis.conf for duplex's role, a store that must refuse writes rather
 * than lose a session, a sequence or an acknowledged message.
 */
import { isIP } from "node:net";
import { type CommandDoc, flag, flags, intFlag, type Values } from "../flags.ts";
import { bad, render, type Rendered, safePath } from "./render.ts";

/** Bytes per unit as Redis reads them: "k" is 1000, "kb" 1024. */
const SIZE_UNITS: Record<string, number> = { "": 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
const MAX_MEMORY = 1024 ** 5;

export const REDIS_FLAGS = flags(
  flag({
    name: "maxmemory", arg: "SIZE", default: "1gb", values: `a size such as 512mb or 2gb, at most ${MAX_MEMORY / 1024 ** 3}gb`,
    doc: "memory limit", guards: "the machine running out of memory: at the limit writes fail, nothing is evicted",
  }),
  intFlag("port", "N", 1, 65535, 6379, { doc: "port to listen on" }),
  flag({
    name: "bind", arg: "IP", multiple: true, default: "127.0.0.1", values: "IP addresses; beyond loopback only with REDIS_PASSWORD",
    doc: "address to listen on", guards: "exposure: other hosts reach Redis only through an address given here",
  }),
  flag({ name: "dir", arg: "DIR", default: "/var/lib/redis", doc: "data folder for the append-only file" }),
  flag({ name: "out", arg: "DIR", doc: "write DIR/redis.conf; without it, print it" }),
);

export const REDIS_COMMAND: CommandDoc = {
  usage: "duplex redis-conf [options]",
  summary: "redis.conf for duplex",
  flags: REDIS_FLAGS,
  env: [{
    env: "REDIS_PASSWORD", values: "16 or more characters, no control characters (quotes, backslashes and spaces are escaped)",
    doc: "if set, written as requirepass (nodes then use redis://:PASSWORD@host:port)",
    guards: "anyone on the network using Redis: a --bind beyond loopback needs it",
  }],
};

export type RedisFlags = Values<typeof REDIS_FLAGS>;

export interface RedisConf {
  maxmemory: string;
  port: number;
  bind: string[];
  dir: string;
  /** requirepass's argument, quoted and escaped. */
  password: string | null;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;

export function redisConf(v: RedisFlags, env: Record<string, string | undefined>): RedisConf {
  const maxmemory = (v.maxmemory ?? REDIS_FLAGS.maxmemory.default).toLowerCase();
  const m = maxmemory.match(/^([1-9][0-9]*)(kb?|mb?|gb?)?$/);
  // Redis wraps a size past 64 bits around without a word, so the bound is checked here.
  if (!m || Number(m[1]) * SIZE_UNITS[m[2] ?? ""] > MAX_MEMORY) {
    bad("--maxmemory", `must be a size such as 512mb or 2gb, at most ${MAX_MEMORY / 1024 ** 3}gb, got "${v.maxmemory}"`);
  }
  const bind = v.bind ?? [REDIS_FLAGS.bind.default];
  for (const ip of bind) if (!isIP(ip)) bad("--bind", `must be an IP address, got "${ip}"`);
  const password = env.REDIS_PASSWORD || null;
  // Control characters (a newline, say) cannot travel in a redis:// URL's password either.
  if (password !== null && (password.length < 16 || /[\x00-\x1f\x7f]/.test(password))) {
    bad("REDIS_PASSWORD", "must be at least 16 characters, none of them a control character such as a newline");
  }
  const remote = bind.find((ip) => !LOOPBACK.test(ip));
  if (remote && password === null) {
    bad("--bind", `${remote} is not loopback: set REDIS_PASSWORD, or Redis (protected mode) refuses every remote node`);
  }
  return {
    maxmemory,
    port: REDIS_FLAGS.port.parse(v.port),
    bind,
    dir: v.dir === undefined ? REDIS_FLAGS.dir.default : safePath("--dir", v.dir),
    password: password === null ? null : quoted(password),
  };
}

/**
 * A value as redis.conf reads it back unchanged: in double quotes, where Redis takes a
 * backslash as the start of an escape and a quote as the end of the value.
 */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

export function renderRedis(conf: RedisConf): Rendered {
  const text = render("redis.conf.eta", conf);
  return { files: { "redis.conf": text }, stdout: text };
}
