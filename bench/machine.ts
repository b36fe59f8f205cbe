/** The machine and the versions a run measured, for the report. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { versions as serverVersions } from "./systems/services.ts";
import { BIN, ROOT } from "./systems/spawn.ts";

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  /** 1-minute load average when the run started: other work on the machine. */
  loadAtStart: number;
  /** Descriptors a process may open (ulimit -n). */
  fdLimit: string;
  /** The commit measured, and whether the working tree differed from it. */
  revision?: string;
  versions: Record<string, string>;
}

const firstLine = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" }).stdout?.split("\n")[0]?.trim() ?? "?";
const pkg = (name: string) => (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;

function revision(): string | undefined {
  const git = (...args: string[]) => spawnSync("git", ["-C", ROOT, ...args], { encoding: "utf8" });
  const head = git("rev-parse", "--short", "HEAD");
  if (head.status !== 0) return undefined;
  return `${head.stdout.trim()}${git("status", "--porcelain").stdout.trim() ? " with uncommitted changes" : ""}`;
}

export async function machine(): Promise<Machine> {
  const servers = await serverVersions();
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "?",
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    loadAtStart: loadavg()[0],
    fdLimit: firstLine("sh", ["-c", "ulimit -n"]),
    revision: revision(),
    versions: {
      bun: Bun.version,
      deno: firstLine(`${BIN}/deno`, ["-v"]).replace(/^deno /, ""),
      node: firstLine("node", ["-v"]).replace(/^v/, ""),
      redis: servers.redis,
      rabbitmq: servers.rabbitmq,
      "socket.io": pkg("socket.io"),
      "@socket.io/redis-adapter": pkg("@socket.io/redis-adapter"),
      amqplib: pkg("amqplib"),
      redis_client: pkg("redis"),
      ws: pkg("ws"),
      hono: pkg("hono"),
    },
  };
}
