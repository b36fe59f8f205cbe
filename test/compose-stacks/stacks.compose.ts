/**
 * Every stack in compose/ brought up for real with docker-compose, from the reader's files
 * (images swapped for local builds, see stack.ts): its own healthchecks, `verify` against
 * the published port, a node container killed and (three brokers) the leading broker
 * stopped mid-traffic with nothing acked lost, Redis restarted under the nodes, and
 * `down -v` leaving nothing behind. Run by `npm run test:compose` (test/compose-stacks/run.sh),
 * not by `npm test`: it needs a Docker engine and the images.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { shardOf } from "../../src/broker/shard.ts";
import { SCENARIOS } from "../../src/ops/verify.ts";
import { verifyTarget } from "../compose-support.ts";
import { ComposeStack, must, sh, until } from "./stack.ts";
import { startTraffic, type Traffic } from "./traffic.ts";

const UP_MS = 300_000;
/** How long the nodes may take to serve again after a fault: a bound, not a target. */
const RECOVERY_MS = 60_000;
const SHARDS = 16; // the stacks keep the default DUPLEX_SHARDS
/** Messages per sender (two senders): long enough that each fault lands mid-traffic. */
const PER_SENDER = 300;
/**
 * A graceful broker stop lasts 8–10 s here, about as long as PER_SENDER sends each take
 * (one run's stop ended at ack 555 of 600, the next one's only after the last). 500 each
 * run some 18 s, and their 1,000 messages still fit one page of history.
 */
const STOP_PER_SENDER = 500;
const only = process.env.DUPLEX_STACKS?.split(",");
const STACKS = ["ws", "wss", "cluster", "rabbitmq-cluster"].filter((s) => !only || only.includes(s));

/** The CLI as a reader runs it against the stack. */
async function verifyCli(stack: ComposeStack, label: string): Promise<void> {
  const { url, secret, insecure } = verifyTarget(stack.services);
  const r = await sh("node_modules/.bin/bun", ["run", "src/cli.ts", "verify", "--url", url, "--secret", secret, ...(insecure ? ["--insecure"] : [])], 120_000);
  console.log(`${stack.stack}: ${label}: duplex verify --url ${url}${insecure ? " --insecure" : ""}\n${r.stdout}${r.stderr}`);
  expect(r.stdout).toContain(`verify: ${SCENARIOS.length} passed, 0 failed`);
  expect(r.code).toBe(0);
}

/** nginx answers /readyz 200 through the published port (some node is ready behind it). */
async function servesAgain(stack: ComposeStack): Promise<void> {
  const { url } = verifyTarget(stack.services);
  const http = url.replace(/^ws/, "http");
  await until(`${stack.stack}: /readyz 200 through nginx`, async () =>
    (await sh("curl", ["-ksf", "-o", "/dev/null", "--max-time", "3", `${http}/readyz`], 10_000)).code === 0, RECOVERY_MS);
}

const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    console.log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
};

for (const name of STACKS) {
  describe(`compose/${name}.yml`, () => {
    const stack = new ComposeStack(name);
    let mounted: string[] = [];

    beforeAll(async () => {
      await timed(`${name}: up and healthy`, async () => {
        await stack.compose("up", "-d");
        await stack.healthy(UP_MS);
      });
      mounted = await stack.volumes();
    }, UP_MS + 60_000);

    afterAll(async () => {
      await timed(`${name}: down -v`, () => stack.down());
    }, 120_000);

    test("every service's own healthcheck reports healthy; verify passes through the published port", async () => {
      await verifyCli(stack, "after up");
    }, 150_000);

    if (stack.nodes.length > 1) {
      test("docker kill of the node owning the conversation's shard mid-traffic: every ack in history, every device converges", async () => {
        await survives(stack, await shardOwners(stack), "kill");
      }, 240_000);
    }

    if (stack.services.rabbit1) {
      test("docker stop of the broker leading the conversation's shard queue mid-traffic: every ack in history, every device converges", async () => {
        await survives(stack, await queueLeaders(stack), "stop");
      }, 240_000);
    }

    test("Redis restarted under the nodes: they recover by themselves, nothing acked is lost", async () => {
      const traffic = await startTraffic(verifyTarget(stack.services), PER_SENDER);
      await faultMidTraffic(traffic, "docker restart redis", async () => { await must("docker", ["restart", await stack.container("redis")]); });
      await traffic.check();
      await servesAgain(stack);
      await verifyCli(stack, "after the Redis restart");
    }, 240_000);

    test("down -v leaves no container, network or volume behind", async () => {
      await stack.down();
      expect(await stack.leftovers()).toEqual([]);
      const volumes = (await must("docker", ["volume", "ls", "-q"])).split("\n");
      expect(mounted.filter((v) => volumes.includes(v))).toEqual([]);
    }, 120_000);
  });
}

/** Runs `fault` once the traffic is under way and checks that it ended before the traffic did. */
async function faultMidTraffic(traffic: Traffic, what: string, fault: () => Promise<void>): Promise<void> {
  await until("traffic under way", () => traffic.acked() >= 40, 60_000, 20);
  const before = traffic.acked();
  await fault();
  const after = traffic.acked();
  console.log(`${what}: began after ack ${before} and was over by ack ${after} of ${traffic.total}`);
  expect(after).toBeLessThan(traffic.total);
}

/**
 * Traffic through the stack while `docker <how>` takes down the service that `byShard`
 * names for the conversation's shard; then the traffic checks and `verify` again.
 */
async function survives(stack: ComposeStack, byShard: Map<number, string>, how: "kill" | "stop"): Promise<void> {
  const traffic = await startTraffic(verifyTarget(stack.services), how === "stop" ? STOP_PER_SENDER : PER_SENDER);
  const victim = byShard.get(shardOf(traffic.conv, SHARDS))!;
  await faultMidTraffic(traffic, `docker ${how} ${victim}`, async () => { await must("docker", [how, await stack.container(victim)]); });
  await traffic.check();
  await verifyCli(stack, `${victim} ${how === "kill" ? "killed" : "stopped"}`);
  // The next test starts from the whole stack: nginx's ip_hash keeps sending a client to the
  // node it hashed to, and while that one is gone each handshake first waits out its connect.
  await must("docker", ["start", await stack.container(victim)]);
  await stack.healthy(120_000);
}

/** Shard → the node service owning it, from every node's /healthz. */
async function shardOwners(stack: ComposeStack): Promise<Map<number, string>> {
  const owners = new Map<number, string>();
  for (const service of stack.nodes) for (const shard of (await stack.nodeHealth(service)).owned) owners.set(shard, service);
  expect(owners.size).toBe(SHARDS);
  return owners;
}

/** Shard → the broker service leading its queue, as rabbitmqctl on rabbit1 lists them. */
async function queueLeaders(stack: ComposeStack): Promise<Map<number, string>> {
  const out = await must("docker", ["exec", await stack.container("rabbit1"), "rabbitmqctl", "list_queues", "name", "leader", "--formatter", "json", "-q"]);
  const prefix = `${stack.services.bun.environment.DUPLEX_NAMESPACE}.shard.`;
  const leaders = new Map((JSON.parse(out) as { name: string; leader: string }[])
    .filter((q) => q.name.startsWith(prefix))
    .map((q) => [Number(q.name.slice(prefix.length)), q.leader.replace(/^rabbit@/, "")]));
  expect(leaders.size).toBe(SHARDS);
  return leaders;
}
