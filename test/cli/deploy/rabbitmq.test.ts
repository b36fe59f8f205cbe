import { afterAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { createHash } from "node:crypto";
import { chmod } from "node:fs/promises";
import { join, resolve } from "node:path";
import { DELIVERY_LIMIT, topology } from "../../../src/broker/rabbitmq/topology.ts";
import { rabbitmqConf, renderRabbitmq } from "../../../src/cli/deploy/rabbitmq.ts";
import { startNode, testNamespace } from "../../harness.ts";
import { dropKeys } from "../../store/redis/fixtures.ts";
import { amqpUrl, redisUrl } from "../../services.ts";
import { cleanUpAfterAll, expectGolden, run, writeOut } from "./support.ts";

cleanUpAfterAll();

const AMQP_URL = await amqpUrl();
const REDIS_URL = await redisUrl();
const PASSWORD = "correct-horse-battery-staple";

describe("rabbitmq golden files", () => {
  test("the defaults (namespace duplex, 16 quorum shards) match their golden files", async () => {
    const r = renderRabbitmq(rabbitmqConf({}, {}));
    await expectGolden("rabbitmq-quorum.definitions.json", r.files["definitions.json"]);
    await expectGolden("rabbitmq.conf", r.files["rabbitmq.conf"]);
  });

  test("classic shard queues match their golden file", async () => {
    const r = renderRabbitmq(rabbitmqConf({ namespace: "chat", shards: "2", "queue-type": "classic" }, {}));
    await expectGolden("rabbitmq-classic.definitions.json", r.files["definitions.json"]);
  });

  test("with --user, the vhost, user and permissions match their golden file (salted hash aside)", async () => {
    const r = renderRabbitmq(rabbitmqConf({ namespace: "chat", shards: "2", vhost: "/chat", user: "duplex-node" }, { RABBITMQ_PASSWORD: PASSWORD }));
    await expectGolden("rabbitmq-user.definitions.json", r.files["definitions.json"].replace(/"password_hash": "[^"]+"/, '"password_hash": "<salted>"'));
    await expectGolden("rabbitmq-user.conf", r.files["rabbitmq.conf"]);
  });

  test("with --cluster-node, rabbitmq.conf lists the cluster's brokers for peer discovery", async () => {
    const r = renderRabbitmq(rabbitmqConf({ "cluster-node": ["rabbit@rabbit1", "rabbit@rabbit2", "rabbit@rabbit3"] }, {}));
    await expectGolden("rabbitmq-cluster.conf", r.files["rabbitmq.conf"]);
    // Queues made by the first broker to boot would live on it alone: the nodes declare them.
    const definitions = JSON.parse(r.files["definitions.json"]);
    expect(definitions.queues).toEqual([]);
    expect(definitions.bindings).toEqual([]);
    expect(definitions.exchanges.map((e: { name: string }) => e.name).sort()).toEqual(topology({ namespace: "duplex", shards: 16, queueType: "quorum" }).exchanges.map((e) => e.name).sort());
  });

  test("without --out, definitions.json is what is printed", () => {
    const r = renderRabbitmq(rabbitmqConf({}, {}));
    expect(r.stdout).toBe(r.files["definitions.json"]);
  });
});

describe("rabbitmq definitions", () => {
  test("take namespace, shards and queue type from the node's environment when no flag is given", () => {
    const c = rabbitmqConf({}, { DUPLEX_NAMESPACE: "acme", DUPLEX_SHARDS: "3", DUPLEX_QUEUE_TYPE: "classic" });
    expect(c.definitions.queues.map((q) => q.name)).toEqual(["acme.shard.0", "acme.shard.1", "acme.shard.2", "acme.dead-letter"]);
    expect(c.definitions.queues.every((q) => (q.arguments as Record<string, unknown>)["x-queue-type"] === "classic")).toBe(true);
  });

  test("carry topology()'s objects and arguments unchanged, each with its vhost", () => {
    const c = rabbitmqConf({ namespace: "acme", shards: "4", vhost: "/chat" }, {});
    const t = topology({ namespace: "acme", shards: 4, queueType: "quorum" });
    expect(c.definitions.queues.map((q) => [q.name, q.durable, q.arguments])).toEqual(t.queues.map((q) => [q.name, q.durable, q.arguments]));
    expect(c.definitions.exchanges.map((e) => [e.name, e.type, e.durable])).toEqual(t.exchanges.map((e) => [e.name, e.type, e.durable]));
    expect(c.definitions.bindings.map((b) => [b.source, b.destination, b.routing_key])).toEqual(t.bindings.map((b) => [b.source, b.destination, b.routingKey]));
    const all = [...c.definitions.exchanges, ...c.definitions.queues, ...c.definitions.bindings];
    expect(all.every((o) => o.vhost === "/chat")).toBe(true);
  });

  test("dead-letter every shard queue to the namespace's dead-letter queue, quorum ones after a bounded number of deliveries", () => {
    for (const queueType of ["quorum", "classic"] as const) {
      const d = rabbitmqConf({ namespace: "acme", shards: "2", "queue-type": queueType }, {}).definitions;
      expect(d.exchanges).toContainEqual(expect.objectContaining({ name: "acme.dead-letter", type: "fanout", durable: true }));
      expect(d.queues).toContainEqual(expect.objectContaining({ name: "acme.dead-letter", durable: true, arguments: { "x-queue-type": queueType } }));
      expect(d.bindings).toContainEqual(expect.objectContaining({ source: "acme.dead-letter", destination: "acme.dead-letter", routing_key: "" }));
      for (const q of d.queues.filter((q) => String(q.name).startsWith("acme.shard."))) {
        expect(q.arguments).toMatchObject({ "x-dead-letter-exchange": "acme.dead-letter" });
        expect((q.arguments as Record<string, unknown>)["x-delivery-limit"]).toBe(queueType === "quorum" ? DELIVERY_LIMIT : undefined);
      }
    }
  });

  test("hash the user's password as rabbit_password_hashing_sha256, salted afresh each time", () => {
    const hash = () => rabbitmqConf({ user: "duplex-node" }, { RABBITMQ_PASSWORD: PASSWORD }).definitions.users[0].password_hash as string;
    const [a, b] = [hash(), hash()];
    expect(a).not.toBe(b);
    const bytes = Buffer.from(a, "base64");
    const salt = bytes.subarray(0, 4);
    expect(bytes.subarray(4)).toEqual(createHash("sha256").update(salt).update(PASSWORD).digest());
  });

  test("leave vhosts and users alone without --user, since importing a vhost resets its description", () => {
    const d = rabbitmqConf({}, {}).definitions;
    expect([d.vhosts, d.users, d.permissions]).toEqual([[], [], []]);
  });

  test("point rabbitmq.conf at the definitions.json written with --out", () => {
    const r = renderRabbitmq(rabbitmqConf({ out: "deploy/rabbitmq" }, {}));
    expect(r.files["rabbitmq.conf"]).toContain(`load_definitions = ${resolve("deploy/rabbitmq/definitions.json")}\n`);
  });
});

for (const queueType of ["quorum", "classic"] as const) {
  describe(`${queueType} definitions in the machine's broker`, () => {
    const namespace = testNamespace();
    const t = topology({ namespace, shards: 3, queueType });
    let conn: amqp.ChannelModel | undefined;
    afterAll(async () => {
      // Imported objects outlive the test run unless deleted; they are this namespace's alone.
      const c = await amqp.connect(AMQP_URL);
      const ch = await c.createChannel();
      for (const q of t.queues) await ch.deleteQueue(q.name);
      for (const e of t.exchanges) await ch.deleteExchange(e.name);
      await c.close();
      await dropKeys(`${namespace}:*`);
      await conn?.close().catch(() => {});
    });

    test("import with rabbitmqctl", async () => {
      const dir = await writeOut(renderRabbitmq(rabbitmqConf({ namespace, shards: "3", "queue-type": queueType }, {})));
      // rabbitmqctl reads the file as the rabbitmq user.
      await chmod(join(dir, "definitions.json"), 0o644);
      const r = await run("rabbitmqctl", ["import_definitions", join(dir, "definitions.json")], { timeoutMs: 60_000 });
      expect(r.stderr + r.stdout).not.toContain("Error");
      expect(r.code).toBe(0);
      conn = await amqp.connect(AMQP_URL);
      const ch = await conn.createChannel();
      for (const q of t.queues) expect((await ch.checkQueue(q.name)).queue).toBe(q.name);
      await ch.close();
    });

    test("then a declare from topology(), as a node does, succeeds with no PRECONDITION_FAILED", async () => {
      const ch = await conn!.createChannel();
      for (const e of t.exchanges) await ch.assertExchange(e.name, e.type, { durable: e.durable });
      for (const q of t.queues) await ch.assertQueue(q.name, { durable: q.durable, arguments: q.arguments });
      for (const b of t.bindings) await ch.bindQueue(b.destination, b.source, b.routingKey);
      await ch.close();
    });

    test("and a node of that namespace starts against them and becomes ready", async () => {
      const node = await startNode({ env: { AMQP_URL, REDIS_URL, DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "3", DUPLEX_QUEUE_TYPE: queueType } });
      try {
        const health = await fetch(`${node.url}/healthz`);
        expect(health.status).toBe(200);
        expect(node.output()).not.toContain("PRECONDITION_FAILED");
      } finally {
        await node.stop();
      }
    });

    test("while a node that disagrees about the queue type is refused", async () => {
      const other = queueType === "quorum" ? "classic" : "quorum";
      const started = startNode({ env: { AMQP_URL, REDIS_URL, DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "3", DUPLEX_QUEUE_TYPE: other } });
      await expect(started).rejects.toThrow("PRECONDITION_FAILED");
    });

    test("as is a declare that differs from them (the check can fail)", async () => {
      const ch = await conn!.createChannel();
      ch.on("error", () => {});
      const other = queueType === "quorum" ? "classic" : "quorum";
      const q = t.queues[0];
      const refused = ch.assertQueue(q.name, { durable: true, arguments: { ...q.arguments, "x-queue-type": other } });
      await expect(refused).rejects.toThrow("PRECONDITION_FAILED");
    });
  });
}
