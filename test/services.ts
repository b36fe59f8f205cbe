/**
 * Where the tests find Redis and RabbitMQ, in order: REDIS_URL / AMQP_URL from the
 * environment → the default local ports → Testcontainers, only when a Docker engine
 * answers → a clear failure naming what to install. Results are cached per process.
 */
import { connect as tcp } from "node:net";
import { request } from "node:http";

const answers = (host: string, port: number) => new Promise<boolean>((done) => {
  const s = tcp(port, host);
  const finish = (ok: boolean) => { s.destroy(); done(ok); };
  s.setTimeout(1000, () => finish(false));
  s.on("connect", () => finish(true));
  s.on("error", () => finish(false));
});

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
  env: string;
  local: string;
  port: number;
  install: string;
  container(): Promise<string>;
}

const SERVICES: Record<"redis" | "amqp", Service> = {
  redis: {
    env: "REDIS_URL", local: "redis://127.0.0.1:6379", port: 6379, install: "apt-get install redis-server",
    async container() {
      const { RedisContainer } = await import("@testcontainers/redis");
      return (await new RedisContainer("redis:7.0").start()).getConnectionUrl();
    },
  },
  amqp: {
    env: "AMQP_URL", local: "amqp://guest:guest@127.0.0.1:5672", port: 5672, install: "apt-get install rabbitmq-server",
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
  if (await answers("127.0.0.1", s.port)) return s.local;
  if (await dockerEngine()) return s.container();
  throw new Error(`no ${s.env}, nothing on 127.0.0.1:${s.port} and no Docker engine: set ${s.env}, or ${s.install}, or start Docker`);
}

export const redisUrl = (): Promise<string> => {
  if (!resolved.has("redis")) resolved.set("redis", resolve(SERVICES.redis));
  return resolved.get("redis")!;
};

export const amqpUrl = (): Promise<string> => {
  if (!resolved.has("amqp")) resolved.set("amqp", resolve(SERVICES.amqp));
  return resolved.get("amqp")!;
};
