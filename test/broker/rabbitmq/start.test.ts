/** Starting a RabbitMQ broker: bad options, a disagreeing cluster, an unreachable broker. */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect } from "amqplib";
import { rabbitmqBroker } from "../../../src/broker/rabbitmq/broker.ts";
import type { RabbitmqBrokerOptions } from "../../../src/broker/rabbitmq/options.ts";
import { names } from "../../../src/broker/rabbitmq/topology.ts";
import { DuplexError } from "../../../src/core/errors.ts";
import { createLogger } from "../../../src/core/log.ts";
import { MemoryMessageStore } from "../../../src/store/memory.ts";
import { AmqpUrls } from "../../../src/broker/rabbitmq/urls.ts";
import { startNode } from "../../harness.ts";
import { amqpUrl, redisUrl } from "../../services.ts";
import { dropKeys } from "../../store/redis/fixtures.ts";
import { AMQP_URL, deleteNamespace, testNamespace, testNode } from "./fixture.ts";

setDefaultTimeout(30_000);
const teardown: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of teardown.splice(0).reverse()) await step().catch(() => {});
});

const valid: RabbitmqBrokerOptions = { namespace: "t-valid", shards: 4, nodeId: "n1", sendTimeoutMs: 1000 };

describe("rabbitmqBroker options", () => {
  const bad: [string, string, Partial<RabbitmqBrokerOptions>, RegExp][] = [
    ["an http URL", "http://127.0.0.1:5672", {}, /AMQP_URL must list amqp/],
    ["a URL that does not parse", "not a url", {}, /AMQP_URL holds "not a url", which is not a URL/],
    ["a list with an http URL", "amqp://127.0.0.1:5672,http://127.0.0.1:5672", {}, /AMQP_URL must list amqp/],
    ["a list of nothing", " , ", {}, /AMQP_URL names no broker/],
    ["an empty namespace", AMQP_URL, { namespace: "" }, /namespace \(DUPLEX_NAMESPACE\)/],
    ["a namespace with a space", AMQP_URL, { namespace: "a b" }, /DUPLEX_NAMESPACE/],
    ["an empty node id", AMQP_URL, { nodeId: "" }, /nodeId \(NODE_ID\)/],
    ["a node id with a slash", AMQP_URL, { nodeId: "a/b" }, /NODE_ID/],
    ["zero shards", AMQP_URL, { shards: 0 }, /DUPLEX_SHARDS/],
    ["a fractional shard count", AMQP_URL, { shards: 1.5 }, /DUPLEX_SHARDS/],
    ["too many shards", AMQP_URL, { shards: 5000 }, /DUPLEX_SHARDS/],
    ["an unknown queue type", AMQP_URL, { queueType: "stream" as never }, /DUPLEX_QUEUE_TYPE/],
    ["a zero send timeout", AMQP_URL, { sendTimeoutMs: 0 }, /DUPLEX_SEND_TIMEOUT_MS/],
    ["heartbeats turned off", AMQP_URL, { heartbeatSeconds: 0 }, /heartbeatSeconds/],
  ];
  for (const [what, url, override, message] of bad) {
    test(`refuses ${what}, naming the option`, () => {
      let thrown: unknown;
      try {
        rabbitmqBroker(url, { ...valid, ...override });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(DuplexError);
      expect((thrown as DuplexError).code).toBe("bad_request");
      expect((thrown as DuplexError).message).toMatch(message);
    });
  }

  test("never prints the password of a refused URL", () => {
    expect(() => rabbitmqBroker("http://guest:hunter2@host", valid)).toThrow(/guest:\*\*\*@host/);
  });
});

describe("joining a cluster", () => {
  /** A node of `shards` shards over `namespace`, started; closed after the test. */
  async function running(namespace: string, options: Partial<RabbitmqBrokerOptions>) {
    const node = testNode(AMQP_URL, new MemoryMessageStore(), { namespace, ...options });
    teardown.push(() => node.broker.close());
    await node.broker.start(node.handlers);
    return node;
  }

  for (const [ours, theirs] of [[6, 4], [2, 4]]) {
    test(`refuses to start with DUPLEX_SHARDS=${ours} next to a running cluster of ${theirs}, naming both`, async () => {
      const namespace = testNamespace();
      teardown.push(() => deleteNamespace(AMQP_URL, namespace, Math.max(ours, theirs)));
      await running(namespace, { shards: theirs });
      const err = await running(namespace, { shards: ours }).catch((e) => e);
      expect(err).toBeInstanceOf(DuplexError);
      expect(err.code).toBe("bad_request");
      expect(err.message).toContain(`DUPLEX_SHARDS=${ours}`);
      expect(err.message).toContain(`DUPLEX_SHARDS=${theirs}`);
      // It refused before declaring shard queues of its own count.
      const conn = await connect(AMQP_URL);
      const ch = await conn.createChannel();
      ch.on("error", () => {});
      const extra = await ch.checkQueue(names(namespace).shard(Math.max(ours, theirs) - 1)).then(() => "exists", () => "missing");
      await conn.close().catch(() => {});
      expect(extra).toBe(ours > theirs ? "missing" : "exists");
    });
  }

  test("starts with another DUPLEX_SHARDS once no node of the old count runs", async () => {
    const namespace = testNamespace();
    teardown.push(() => deleteNamespace(AMQP_URL, namespace, 6));
    const old = await running(namespace, { shards: 4 });
    await old.broker.close();
    const node = await running(namespace, { shards: 6 });
    expect(node.broker.status()).toMatchObject({ ready: true, shards: 6 });
  });

  test("refuses to start when the shard queues exist with another DUPLEX_QUEUE_TYPE", async () => {
    const namespace = testNamespace();
    teardown.push(() => deleteNamespace(AMQP_URL, namespace, 4));
    await running(namespace, { shards: 4, queueType: "quorum" });
    const err = await running(namespace, { shards: 4, queueType: "classic" }).catch((e) => e);
    expect(err).toBeInstanceOf(DuplexError);
    expect(err.code).toBe("bad_request");
    expect(err.message).toContain("DUPLEX_QUEUE_TYPE=classic");
    expect(err.message).toContain("x-queue-type");
  });
});

describe("an unreachable RabbitMQ", () => {
  test("keeps retrying while not ready, says so once with the password masked, and stops on close", async () => {
    const lines: string[] = [];
    const broker = rabbitmqBroker("amqp://guest:hunter2@127.0.0.1:1", {
      ...valid, log: createLogger("debug", {}, (line) => lines.push(line)),
    });
    const started = broker.start({ sequence: async () => [], deliver: () => {}, control: () => {} });
    const outcome = started.then(() => "started", (e) => e);
    await new Promise((r) => setTimeout(r, 1500));
    expect(broker.status().ready).toBe(false);
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toContain("cannot reach RabbitMQ");
    expect(warnings[0].url).toBe("amqp://guest:***@127.0.0.1:1");
    expect(lines.filter((l) => l.includes("reconnect scheduled")).length).toBeGreaterThan(1);
    expect(lines.join("\n")).not.toContain("hunter2");
    await broker.close();
    const err = await outcome;
    expect(err).toBeInstanceOf(DuplexError);
    expect(err.code).toBe("unavailable");
  });
});

describe("several brokers in AMQP_URL", () => {
  test("a node moves past a broker that does not answer to the next one listed", async () => {
    const namespace = testNamespace();
    const dead = "amqp://guest:guest@127.0.0.1:1";
    const node = await startNode({ env: { AMQP_URL: `${dead},${await amqpUrl()}`, REDIS_URL: await redisUrl(), DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "2" } });
    try {
      expect((await fetch(`${node.url}/readyz`)).status).toBe(200);
      expect(node.output()).toContain("cannot reach RabbitMQ");
      expect(node.output()).toContain('"url":"amqp://guest:***@127.0.0.1:1"');
    } finally {
      await node.kill();
      await deleteNamespace(await amqpUrl(), namespace, 2);
      await dropKeys(`${namespace}:*`);
    }
  });

  test("reads every field of the broker in use, and moves on in a ring", () => {
    const b = new AmqpUrls("amqp://u:p%40ss@a.example:5673/v%2Fh?heartbeat=9, amqps://b.example", 5);
    const t = b.target();
    expect([t.protocol, t.hostname, t.port, t.username, t.password, t.vhost, t.heartbeat]).toEqual(["amqp", "a.example", 5673, "u", "p@ss", "v/h", 9]);
    b.next();
    expect([t.protocol, t.hostname, t.port, t.username, t.vhost, t.heartbeat]).toEqual(["amqps", "b.example", undefined, "guest", "/", 5]);
    expect(b.current).toBe("amqps://b.example");
    b.next();
    expect(t.hostname).toBe("a.example");
    expect(b.toString()).toBe("amqp://u:***@a.example:5673/v%2Fh?heartbeat=9,amqps://b.example");
  });
});
