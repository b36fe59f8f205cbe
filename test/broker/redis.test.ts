import { describe, expect, test } from "bun:test";
import { redisBroker } from "../../src/broker/redis.ts";
import { REDIS_URL, testNamespace } from "../store/redis/fixtures.ts";
import { brokerSuite } from "./broker.suite.ts";

// Several instances on one namespace share its fan-out channel, like the nodes of a
// cluster. The broker writes no keys (pub/sub only), so there is nothing to clean up.
brokerSuite("redis", async (instances) => {
  const namespace = testNamespace();
  const brokers = Array.from({ length: instances }, (_, i) =>
    redisBroker(REDIS_URL, { namespace, shards: 4, nodeId: `node-${i}`, sendTimeoutMs: 5000 }));
  return { brokers, close: async () => { await Promise.all(brokers.map((b) => b.close())); } };
});

describe("redis broker", () => {
  test("reports ready with no owned shards once started, and not ready after close", async () => {
    const broker = redisBroker(REDIS_URL, { namespace: testNamespace(), shards: 8, nodeId: "n1", sendTimeoutMs: 5000 });
    expect(broker.status()).toEqual({ ready: false, owned: [], shards: 8, reconnects: 0 });
    await broker.start({ sequence: async () => [], deliver: () => {}, control: () => {} });
    expect(broker.status()).toEqual({ ready: true, owned: [], shards: 8, reconnects: 0 });
    await broker.close();
    expect(broker.status().ready).toBe(false);
  });

  test("start against an unreachable Redis rejects unavailable, naming the URL with its password masked", async () => {
    const broker = redisBroker("redis://:hunter2@127.0.0.1:1", { namespace: testNamespace(), shards: 1, nodeId: "n1", sendTimeoutMs: 1000 });
    const err = await broker.start({ sequence: async () => [], deliver: () => {}, control: () => {} }).catch((e) => e);
    expect(err).toMatchObject({ code: "unavailable" });
    expect(err.message).toContain("127.0.0.1:1");
    expect(err.message).not.toContain("hunter2");
  });
});
