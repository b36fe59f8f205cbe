/**
 * `duplex redis-conf`: redis.conf for duplex's role, a store that must refuse writes rather
 * than lose a session, a sequence or an acknowledged message.
 */
import { isIP } from "node:net";
import { bad, integer, render, type Rendered, safePath } from "./render.ts";

export const REDIS_OPTIONS = {
  maxmemory: { type: "string" },
  port: { type: "string" },
  bind: { type: "string", multiple: true },
  dir: { type: "string" },
  out: { type: "string" },
} as const;

export const REDIS_HELP = `duplex redis-conf [options]
  --maxmemory SIZE   memory limit, such as 512mb or 2gb (1gb); at the limit writes fail, nothing is evicted
  --port N           (6379)
  --bind IP          address to listen on, repeatable (127.0.0.1); beyond loopback, set REDIS_PASSWORD
  --dir DIR          data folder for the append-only file (/var/lib/redis)
  --out DIR          write DIR/redis.conf; without it, print it
  REDIS_PASSWORD     if set, written as requirepass (nodes then use redis://:PASSWORD@host:port)`;

/** What parseArgs returns for REDIS_OPTIONS. */
export type RedisFlags = { maxmemory?: string; port?: string; bind?: string[]; dir?: string; out?: string };

export interface RedisConf {
  maxmemory: string;
  port: number;
  bind: string[];
  dir: string;
  password: string | null;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;

export function redisConf(v: RedisFlags, env: Record<string, string | undefined>): RedisConf {
  const maxmemory = (v.maxmemory ?? "1gb").toLowerCase();
  const m = maxmemory.match(/^(\d+)(kb?|mb?|gb?)?$/);
  if (!m || Number(m[1]) === 0) bad("--maxmemory", `must be a size such as 512mb or 2gb, got "${v.maxmemory}"`);
  const bind = v.bind ?? ["127.0.0.1"];
  for (const ip of bind) if (!isIP(ip)) bad("--bind", `must be an IP address, got "${ip}"`);
  const password = env.REDIS_PASSWORD || null;
  if (password !== null && !/^[\x21-\x7e]{16,}$/.test(password) || password?.includes('"')) {
    bad("REDIS_PASSWORD", "must be at least 16 printable characters without spaces or quotes");
  }
  const remote = bind.find((ip) => !LOOPBACK.test(ip));
  if (remote && password === null) {
    bad("--bind", `${remote} is not loopback: set REDIS_PASSWORD, or Redis (protected mode) refuses every remote node`);
  }
  return {
    maxmemory,
    port: integer("--port", v.port, 1, 65535, 6379),
    bind,
    dir: v.dir === undefined ? "/var/lib/redis" : safePath("--dir", v.dir),
    password,
  };
}

export function renderRedis(conf: RedisConf): Rendered {
  const text = render("redis.conf.eta", conf);
  return { files: { "redis.conf": text }, stdout: text };
}
