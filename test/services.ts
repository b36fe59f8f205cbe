/**
 * Where the tests and the benchmarks find Redis and RabbitMQ. The tests, in order:
 * REDIS_URL / AMQP_URL from the environment → the default local ports → Testcontainers,
 * only when a Docker engine answers → a clear failure naming what to install (results are
 * cached per process). The bench takes the environment or the local default and skips
 * what does not answer.
 */
import { connect as tcp } from "node:net";
import { request } from "node:http";

/** Where the services listen on a developer's machine or in CI. */
export const LOCAL_URLS = { REDIS_URL: "redis://127.0.0.1:6379", AMQP_URL: "amqp://guest:guest@127.0.0.1:5672" };

/** The service's URL from the environment, else its local default; nothing is probed. */
export const configuredUrl = (env: keyof typeof LOCAL_URLS): string => process.env[env] || LOCAL_URLS[env];

const DEFAULT_PORTS: Record<string, number> = { "redis:": 6379, "rediss:": 6379, "amqp:": 5672, "amqps:": 5671 };

/** True when something accepts TCP connections at the URL's host and port within a second. */
export function answers(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise<boolean>((done) => {
    const s = tcp(Number(u.port || DEFAULT_PORTS[u.protocol]), u.hostname.replace(/^\[|\]$/g, ""));
    const finish = (ok: boolean) => { s.destroy(); done(ok); };
    s.setTimeout(1000, () => finish(false));
    s.on("connect", () => finish(true));
    s.on("error", () => finish(false));
  });
}

const DOCKER_SOCKET = process.env.DOCKER_HOST?.replace(/^unix:\/\//, "") ?? "/var/run/docker.sock";

/** True when a Docker engine answers `GET /_ping`; says so in one line when not. */
export function dockerEngine(socketPath = DOCKER_SOCKET): Promise<boolean> {
  return new Promise<boolean>((done) => {
    const req = request({ socketPath, path: "/_ping", timeout: 1000 }, (res) => { res.resume(); done(res.statusCode === 200); });
    req.on("error", () => done(false));
    req.on("timeout", () => { req.destroy(); done(false); });
    req.end();
  }).then((ok) => {
    if (!ok) console.log(`services: no Docker engine answers at ${socketPath}, so Testcontainers is not used`);
    return ok;
  });
}

interface Service {
  env: keyof typeof LOCAL_URLS;
  install: string;
  container(): Promise<string>;
}

const SERVICES: Record<"redis" | "amqp", Service> = {
  redis: {
    env: "REDIS_URL", install: "apt-get install redis-server",
    async container() {
      const { RedisContainer } = await import("@testcontainers/redis");
      return (await new RedisContainer("redis:7.0").start()).getConnectionUrl();
    },
  },
  amqp: {
    env: "AMQP_URL", install: "apt-get install rabbitmq-server",
    async container() {
      const { RabbitMQContainer } = await import("@testcontainers/rabbitmq");
      return (await new RabbitMQContainer("rabbitmq:3.10-management").start()).getAmqpUrl();
    },
  },
};

const resolved = new Map<string, Promise<string>>();

async function resolve(s: Service): Promise<string> {
  const fromEnv = process.env[s.env];
  if (fromEnv) return fromEnv;
  const local = LOCAL_URLS[s.env];
  if (await answers(local)) return local;
  if (await dockerEngine()) return s.container();
  throw new Error(`no ${s.env}, nothing at ${local} and no Docker engine: set ${s.env}, or ${s.install}, or start Docker`);
}

export const redisUrl = (): Promise<string> => {
  if (!resolved.has("redis")) resolved.set("redis", resolve(SERVICES.redis));
  return resolved.get("redis")!;
};

export const amqpUrl = (): Promise<string> => {
  if (!resolved.has("amqp")) resolved.set("amqp", resolve(SERVICES.amqp));
  return resolved.get("amqp")!;
};
