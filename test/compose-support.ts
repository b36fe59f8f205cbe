/**
 * The compose stacks as a reader gets them, read through `docker-compose config`: used by
 * test/compose.test.ts (files only) and test/compose-stacks/ (the stacks brought up).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./harness.ts";

export const STACKS = ["ws", "wss", "cluster", "rabbitmq-cluster"];
export const COMPOSE = join(ROOT, "compose");

export type Services = Record<string, any>;

/** The stack as a reader gets it: with its demo defaults, whatever this shell exports. */
export function config(stack: string): { services: Services } {
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([name]) => !["DUPLEX_JWT_SECRET", "REDIS_PASSWORD", "RABBITMQ_PASSWORD", "RABBITMQ_COOKIE"].includes(name)));
  const r = spawnSync("docker-compose", ["-f", join(COMPOSE, `${stack}.yml`), "config"], { encoding: "utf8", env });
  if (r.status !== 0) throw new Error(`docker-compose config ${stack}: ${r.stderr}`);
  return Bun.YAML.parse(r.stdout) as { services: Services };
}

/** The host port that reaches container port `target` of a service, if it is published. */
export function published(service: { ports?: { published: string | number; target: number }[] }, target: number): number | undefined {
  const port = service.ports?.find((p) => p.target === target)?.published;
  return port === undefined ? undefined : Number(port);
}

/** The nginx.conf a stack's nginx runs (the folder mounted at /duplex). */
export function nginxConf(services: Services): string {
  const mount = (services.nginx.volumes as (string | { source: string; target: string })[])
    .map((v) => typeof v === "string" ? { source: v.split(":")[0], target: v.split(":")[1] } : v)
    .find((v) => v.target === "/duplex")!;
  return readFileSync(join(mount.source, "nginx.conf"), "utf8");
}

/** Where a reader points `verify` at a stack: its published ws:// or wss:// port, its demo secret. */
export function verifyTarget(services: Services): { url: string; secret: string; insecure: boolean } {
  const conf = nginxConf(services);
  const tls = /listen (\d+) ssl/.exec(conf);
  const url = tls
    ? `wss://127.0.0.1:${published(services.nginx, Number(tls[1]))}`
    : `ws://127.0.0.1:${published(services.nginx, Number(/listen (\d+);/.exec(conf)![1]))}`;
  const node = Object.values(services).find((s) => s.environment?.DUPLEX_JWT_SECRET);
  return { url, secret: node.environment.DUPLEX_JWT_SECRET, insecure: tls !== null };
}

/** The `verify` command line of README.md and docs/11 for a stack. */
export function verifyCommand(services: Services): string {
  const { url, secret, insecure } = verifyTarget(services);
  return `node_modules/.bin/bun run src/cli.ts verify --url ${url} --secret ${secret}${insecure ? " --insecure" : ""}`;
}
