/**
 * compose/rabbitmq-cluster.yml as local processes: three RabbitMQ brokers of the test's own,
 * booted together (as compose boots them) with the rabbitmq.conf and definitions.json that
 * `duplex rabbitmq --cluster-node …` renders, so they cluster by its classic config peer
 * discovery; then nginx in front of Bun, Deno and Node nodes whose AMQP_URL lists every
 * broker. `verify` passes, and passes again once the broker the nodes use is gone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type OwnRabbit, startRabbit } from "./broker/rabbitmq/own-rabbitmq.ts";
import { cleanUpAfterAll, run, scratchDir } from "./cli/deploy/support.ts";
import { type NodeProc, testNamespace } from "./harness.ts";
import { expectVerifyPasses, type Stack, standUp } from "./topology-support.ts";

cleanUpAfterAll();

const NAME = "rabbitmq-cluster: nginx → Bun, Deno and Node nodes, Redis, three clustered RabbitMQ brokers";
const namespace = testNamespace();
const [user, password] = ["duplex", `pw-${crypto.randomUUID()}`];
const members = [1, 2, 3].map((i) => `${namespace}-rabbit${i}@localhost`);
/** How long the nodes may take to follow the cluster to a surviving broker: a bound, not a target. */
const RECOVERY_BOUND_MS = 30_000;

let brokers: OwnRabbit[] = [];
/** The brokers in AMQP_URL's order: the nodes use the first. */
let listed: OwnRabbit[] = [];
let stack: Stack | undefined;

async function renderConf(): Promise<string> {
  const dir = await scratchDir();
  const r = await run("node_modules/.bin/bun", [
    "run", "src/cli.ts", "rabbitmq", "--namespace", namespace, "--user", user, ...members.flatMap((m) => ["--cluster-node", m]), "--out", dir,
  ], { env: { ...process.env, RABBITMQ_PASSWORD: password } });
  if (r.code !== 0) throw new Error(`duplex rabbitmq failed: ${r.stderr}`);
  return readFile(join(dir, "rabbitmq.conf"), "utf8");
}

beforeAll(async () => {
  const conf = await renderConf();
  const started = await Promise.allSettled(members.map((m) => startRabbit(m, conf)));
  brokers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  for (const s of started) if (s.status === "rejected") throw s.reason;
  // compose lists rabbit1 first; here the first is the broker leading the shard queues the
  // definitions declared, if any, so that stopping the nodes' broker is the worst single loss.
  const leader = (await shardQueues(brokers[0]))[0]?.leader;
  listed = [...brokers].sort((a, b) => Number(b.node === leader) - Number(a.node === leader));
  // As in compose, the nodes start once every broker is up.
  stack = await standUp({ name: NAME, runtimes: ["bun", "deno", "node"], tls: false }, {
    DUPLEX_NAMESPACE: namespace, DUPLEX_QUEUE_TYPE: "quorum", AMQP_URL: listed.map((b) => b.url(user, password)).join(","),
  });
}, 180_000);

afterAll(async () => {
  await stack?.tearDown();
  await Promise.all(brokers.map((b) => b.stop()));
}, 90_000);

/** The namespace's shard queues, as the (running) broker `via` lists them. */
async function shardQueues(via: OwnRabbit): Promise<{ name: string; leader: string; members: string[] }[]> {
  const queues = JSON.parse(await via.ctl("list_queues", "name", "leader", "members", "--formatter", "json", "-q")) as { name: string; leader: string; members: string[] }[];
  return queues.filter((q) => q.name.startsWith(`${namespace}.shard.`));
}

/** The brokers a node's log says it connected to, in order. */
function connectedTo(node: NodeProc): string[] {
  return node.output().split("\n").flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      return entry.msg?.startsWith("connected to RabbitMQ") && entry.url ? [entry.url] : [];
    } catch {
      return [];
    }
  });
}

/** Resolves once `node` is connected to a broker other than the one on `gonePort` and ready again. */
async function movedOn(node: NodeProc, gonePort: number, deadline: number): Promise<void> {
  let exit: number | null | undefined;
  void node.exited.then((code) => { exit = code; });
  for (;;) {
    if (exit !== undefined) throw new Error(`${node.runtime} node exited (${exit}) instead of moving on:\n${node.output().slice(-1000)}`);
    const last = connectedTo(node).at(-1) ?? "";
    const ready = (await fetch(`${node.url}/readyz`).catch(() => null))?.status === 200;
    if (ready && !last.endsWith(`127.0.0.1:${gonePort}`)) return;
    if (Date.now() > deadline) throw new Error(`${node.runtime} node still not on another broker after ${RECOVERY_BOUND_MS} ms (last: ${last}):\n${node.output().slice(-1000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe(NAME, () => {
  test("the three brokers form one cluster", async () => {
    const status = JSON.parse(await listed[2].ctl("cluster_status", "--formatter", "json", "-q")) as { running_nodes: string[] };
    expect(status.running_nodes.sort()).toEqual([...members].sort());
  });

  test("every shard queue has a member on each broker, so it outlives the loss of any one", async () => {
    const shards = await shardQueues(listed[2]);
    expect(shards).toHaveLength(16); // the default DUPLEX_SHARDS, which compose keeps
    for (const q of shards) expect({ queue: q.name, members: [...q.members].sort() }).toEqual({ queue: q.name, members: [...members].sort() });
  });

  test("verify passes every scenario", async () => {
    await expectVerifyPasses(stack!, NAME);
  }, 120_000);

  test("once the broker the nodes use stops, they move to another by themselves and verify passes again", async () => {
    const [first] = listed;
    for (const node of stack!.nodes) expect(connectedTo(node)).toEqual([first.url(user, "***")]);
    const stopped = performance.now();
    await first.stop();
    const deadline = Date.now() + RECOVERY_BOUND_MS;
    const moves = await Promise.allSettled(stack!.nodes.map((n) => movedOn(n, first.port, deadline)));
    expect(moves.flatMap((m) => (m.status === "rejected" ? [(m.reason as Error).message] : []))).toEqual([]);
    console.log(`rabbitmq-cluster: every node on another broker and ready ${(performance.now() - stopped).toFixed(0)} ms after the stop began`);
    await expectVerifyPasses(stack!, `${NAME}, one broker down`);
  }, 180_000);
});
