/**
 * A Redis Cluster of the test's own: three masters, no replicas, each a redis-server on
 * spare ports (client and cluster bus) in a scratch folder, persisting no data (only the
 * cluster's own nodes.conf, so a member stopped and started again rejoins with its slots).
 * The machine's shared Redis is never touched. The servers and folders go when the test
 * file ends (it must call cleanUpAfterAll), and the servers with the test process if it
 * dies first.
 */
import { join } from "node:path";
import { freePort, run, scratchDir, startProcess, waitForPort } from "../../cli/deploy/support.ts";

export interface ClusterMember {
  port: number;
  url: string;
  /** Stops the server (SIGTERM); `start` brings it back on the same port and folder. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface RedisCluster {
  members: ClusterMember[];
  /** Resolves once every member reports cluster_state:ok (bounded). */
  healthy(): Promise<void>;
}

const running = new Set<ReturnType<typeof startProcess>>();
process.on("exit", () => {
  for (const server of running) server.child.kill("SIGKILL");
});

/** Runs redis-cli against one member; throws with its output if it fails. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const r = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`redis-cli -p ${port} ${args.join(" ")} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function member(taken: Set<number>): Promise<ClusterMember> {
  const spare = async () => {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    return port;
  };
  // The bus port is chosen too: the default (port + 10000) may be taken or out of range.
  const [port, bus, dir] = [await spare(), await spare(), await scratchDir()];
  let server: ReturnType<typeof startProcess> | null = null;
  const start = async () => {
    const s = startProcess("redis-server", [
      "--port", String(port), "--cluster-port", String(bus), "--bind", "127.0.0.1", "--dir", dir,
      "--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"),
      "--save", "", "--appendonly", "no", "--daemonize", "no",
    ]);
    server = s;
    running.add(s);
    s.child.on("exit", () => running.delete(s));
    await waitForPort(port, "127.0.0.1", 10_000);
  };
  const stop = async () => {
    await server?.stop();
    server = null;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const taken = new Set<number>();
  const members = await Promise.all(Array.from({ length: masters }, () => member(taken)));
  const healthy = async () => {
    const deadline = Date.now() + 20_000;
    for (const { port } of members) {
      while (!/^cluster_state:ok/m.test(await redisCli(port, "cluster", "info"))) {
        if (Date.now() > deadline) throw new Error(`the cluster on ${members.map((m) => m.port).join(", ")} never reported cluster_state:ok`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  await redisCli(members[0].port, "--cluster", "create", ...members.map((m) => `127.0.0.1:${m.port}`), "--cluster-replicas", "0", "--cluster-yes");
  await healthy();
  return { members, healthy };
}
