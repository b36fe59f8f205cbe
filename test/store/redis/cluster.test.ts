/**
 * The Redis store and broker on a real Redis Cluster of the test's own (three masters, see
 * cluster-fixture.ts), given only one member's URL, as a node is: the store and
 * broker contracts, every script's keys in one slot, a node serving on it, and the
 * connection's behaviour when a master stops and comes back.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient } from "redis";
import { redisBroker } from "../../../src/broker/redis.ts";
import type { SessionRecord } from "../../../src/core/ports/store.ts";
import { redisStores } from "../../../src/store/redis/stores.ts";
import { connectRedis, type RedisLink } from "../../../src/redis/connection.ts";
import { redisKeys } from "../../../src/store/redis/keys.ts";
import { RedisMessageStore } from "../../../src/store/redis/messages.ts";
import { SCRIPTS } from "../../../src/store/redis/scripts.ts";
import { RedisSessionStore } from "../../../src/store/redis/sessions.ts";
import { brokerSuite } from "../../broker/broker.suite.ts";
import { cleanUpAfterAll } from "../../cli/deploy/support.ts";
import { api, connect, type NodeProc, startNode, type TestClient, testNamespace } from "../../harness.ts";
import { type RedisCluster, startRedisCluster } from "./cluster-fixture.ts";
import { redisStoreSuites } from "./suites.ts";

cleanUpAfterAll();
let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

/** Each fixture is seeded with the next member in turn: any member will do. */
let seeds = 0;
const anyMember = () => cluster.members[seeds++ % cluster.members.length].url;

redisStoreSuites("redis on Redis Cluster", anyMember, testNamespace());

brokerSuite("redis on Redis Cluster", async (instances) => {
  const namespace = testNamespace();
  const brokers = Array.from({ length: instances }, (_, i) =>
    redisBroker(anyMember(), { namespace, shards: 4, nodeId: `node-${i}`, sendTimeoutMs: 5000 }));
  return { brokers, close: async () => { await Promise.all(brokers.map((b) => b.close())); } };
});

/**
 * A stand-in for the node-redis client that records every call the stores make, with
 * replies that lead each store method down its longest path (a session replaced, a node
 * dead, a session written again…).
 */
function recordingLink() {
  const calls: { name: string; args: unknown[] }[] = [];
  const entry = JSON.stringify(["x}:{y%", "d}{", "s-old"]);
  const replies: Record<string, (args: unknown[]) => unknown> = {
    registerSession: () => ({ session: "s-old", user: "x}:{y%", device: "d}{", node: "n}{old", connectedAt: 1, lastSeen: 1 }),
    removeSession: () => "n}{old",
    refreshSession: () => 2,
    readSession: () => null,
    sMembers: ([key]) => (String(key).endsWith(":nodes") ? ["n{1}", "n}{old"] : ["d}{"]),
    zRange: ([key]) => (String(key).includes(":node:") ? [entry] : ["c}{%7D"]),
    hmGet: () => [null],
    hGet: () => JSON.stringify(["x}:{y%"]),
    nodeEntries: () => ({ alive: false, members: [entry] }),
    reapSession: () => true,
    append: ([, args]) => Array.from({ length: ((args as unknown[]).length - 2) / 2 }, () => ({ duplicate: false, entry: "[1,1,{}]" })),
    range: () => [],
    markRead: () => 1,
  };
  const client = new Proxy({}, {
    get: (_, name: string) => async (...args: unknown[]) => {
      calls.push({ name, args });
      return (replies[name] ?? (() => 1))(args);
    },
  });
  const link = { ready: () => true, reconnects: () => 0, run: (op: (c: unknown) => unknown) => op(client), close: async () => {} };
  return { link: link as unknown as RedisLink<typeof SCRIPTS>, calls };
}

describe("the keys of each Redis call on a cluster", () => {
  test("every script invocation's keys hash to one slot, and every other command names one key, even for ids full of braces", async () => {
    const { link, calls } = recordingLink();
    const keys = redisKeys("ns");
    const sessions = new RedisSessionStore(link, keys);
    const messages = new RedisMessageStore(link, keys, 10);
    const record: SessionRecord = { session: "s-new", user: "x}:{y%", device: "d}{", node: "n{1}", connectedAt: 2, lastSeen: 2 };
    await sessions.register(record, 60_000);
    await sessions.remove(record);
    await sessions.refresh("n{1}", [record], 60_000);
    await sessions.byUser("x}:{y%");
    await sessions.byNode("n{1}");
    await sessions.sweep();
    await messages.createConversation(["x}:{y%", "{b}"]);
    await messages.conversation("c}{%7D");
    await messages.conversationsOf("x}:{y%", 5);
    const from = { user: "x}:{y%", device: "d}{" };
    await messages.append([{ conv: "c}{", id: "1", from, body: 1 }, { conv: "{c2}", id: "2", from, body: 2 }, { conv: "c}{", id: "3", from, body: 3 }]);
    await messages.range("c}{", 0, 10);
    await messages.lastSeq("c}{");
    await messages.markRead("c}{", "x}:{y%", 1);

    const scripts = calls.filter((c) => c.name in SCRIPTS);
    expect(new Set(scripts.map((c) => c.name))).toEqual(new Set(Object.keys(SCRIPTS)));
    // Redis itself says which slot a key is in: the hash-tag rule is the server's.
    const redis = createClient({ url: cluster.members[0].url });
    await redis.connect();
    try {
      for (const { name, args } of scripts) {
        const slots = new Set(await Promise.all((args[0] as string[]).map((k) => redis.clusterKeySlot(k))));
        expect({ name, keys: args[0], slots: slots.size }).toEqual({ name, keys: args[0], slots: 1 });
      }
    } finally {
      redis.destroy();
    }
    const others = calls.filter((c) => !(c.name in SCRIPTS));
    expect(others.filter((c) => typeof c.args[0] !== "string")).toEqual([]);
  });
});

describe("pub/sub through the cluster", () => {
  test("one publisher's messages reach a subscriber on another member in the order they were published", async () => {
    const [pub, sub] = await Promise.all([0, 1].map((i) => connectRedis(cluster.members[i].url, { label: `test ${i}` })));
    try {
      const channel = `${testNamespace()}:fanout`;
      const got: string[] = [];
      await sub.run((c) => c.subscribe(channel, (m) => got.push(m)));
      const sent = Array.from({ length: 100 }, (_, i) => `m${i}`);
      for (const m of sent) await pub.run((c) => c.publish(channel, m));
      await waitFor("every message to arrive", 10_000, () => got.length === sent.length);
      expect(got).toEqual(sent);
    } finally {
      await Promise.all([pub.close(), sub.close()]);
    }
  });
});

describe("nodes whose REDIS_URL names one member of a Redis Cluster", () => {
  let nodes: NodeProc[] = [];
  const clients: TestClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.kill()));
  });

  test("serve: a send is acked and reaches the other node's device, presence shows who is where", async () => {
    const env = { DUPLEX_NAMESPACE: testNamespace(), DUPLEX_JWT_SECRET: `secret-${crypto.randomUUID()}`, AMQP_URL: "" };
    nodes = await Promise.all([0, 1].map((i) => startNode({ env: { ...env, REDIS_URL: cluster.members[i].url } })));
    const [a, b] = nodes;
    const { body: conv } = await api(a, "alice", "/api/conversations", { body: { members: ["bob"] } });
    const alice = await connect(a, { user: "alice", device: "phone" });
    const bob = await connect(b, { user: "bob", device: "laptop" });
    clients.push(alice, bob);
    for (let i = 1; i <= 5; i++) alice.send({ type: "send", id: `m${i}`, conv: conv.id, body: { i } });
    for (let i = 1; i <= 5; i++) expect(await alice.next("ack", (f) => f.id === `m${i}`)).toMatchObject({ seq: i });
    for (let i = 1; i <= 5; i++) expect(await bob.next("msg")).toMatchObject({ conv: conv.id, seq: i, id: `m${i}` });
    const { body: presence } = await api(b, "bob", "/api/presence?users=alice,bob");
    expect(presence.users.alice).toMatchObject({ online: true, devices: [{ device: "phone", node: a.nodeId }] });
    expect(presence.users.bob).toMatchObject({ online: true, devices: [{ device: "laptop", node: b.nodeId }] });
  }, 60_000);
});

// Last: it stops a master, which takes the whole cluster down until it is back.
describe("the store's link when a master of the cluster stops and comes back", () => {
  test("calls fail unavailable at once while it is down, ready() recovers alone, reconnects counts it", async () => {
    const stores = await redisStores(cluster.members[0].url, { namespace: testNamespace(), historyLimit: 10, timeoutMs: 3000 });
    try {
      const { id } = await stores.messages.createConversation(["alice"]);
      expect(stores.ready()).toBe(true);
      await cluster.members[1].stop();
      await waitFor("ready() to turn false", 5_000, () => !stores.ready());
      // Refused at once ("unreachable"), not after the 3 s call timeout ("did not answer").
      const err = await stores.messages.lastSeq(id).catch((e) => e);
      expect(err).toMatchObject({ code: "unavailable" });
      expect(err.message).toContain("unreachable");

      await cluster.members[1].start();
      await waitFor("ready() to turn true again", 20_000, () => stores.ready());
      await cluster.healthy();
      expect(stores.reconnects()).toBe(1);
      expect(await stores.messages.lastSeq(id)).toBe(0);
    } finally {
      await stores.close();
    }
  }, 60_000);
});

async function waitFor(what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
