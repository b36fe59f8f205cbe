import { afterAll, describe, expect, test } from "bun:test";
import { redisStores } from "../../../src/store/redis/stores.ts";
import { dropKeys, listKeys, REDIS_URL, testNamespace } from "./fixtures.ts";
import { redisStoreSuites } from "./suites.ts";

const base = testNamespace();

afterAll(async () => {
  await dropKeys(`${base}-*`);
});

redisStoreSuites("redis", () => REDIS_URL, base);

describe("redisStores", () => {
  test("refuses an unreachable Redis at once with unavailable, naming the URL with its password masked", async () => {
    const err = await redisStores("redis://:hunter2@127.0.0.1:1/0", { namespace: base, historyLimit: 10 }).catch((e) => e);
    expect(err).toMatchObject({ code: "unavailable" });
    expect(err.message).toContain("redis://:***@127.0.0.1:1/0");
    expect(err.message).not.toContain("hunter2");
  });

  test("refuses a URL that is not a Redis URL, naming it", async () => {
    const err = await redisStores("http://user:hunter2@127.0.0.1:6379", { namespace: base, historyLimit: 10 }).catch((e) => e);
    expect(err).toMatchObject({ code: "unavailable" });
    expect(err.message).toContain("http://user:***@127.0.0.1:6379");
    expect(err.message).not.toContain("hunter2");
  });

  test("writes only keys under its namespace", async () => {
    const namespace = `${base}-only`;
    const stores = await redisStores(REDIS_URL, { namespace, historyLimit: 10 });
    try {
      const { id } = await stores.messages.createConversation(["alice"]);
      await stores.messages.append([{ conv: id, id: "x", from: { user: "alice", device: "d" }, body: 1 }]);
      await stores.messages.markRead(id, "alice", 1);
      await stores.sessions.register({ session: "s", user: "alice", device: "d", node: "n", connectedAt: 1, lastSeen: 1 }, 60_000);
      await stores.sessions.refresh("n", [], 60_000);
      const keys = [...await listKeys(`*${namespace}*`), ...await listKeys(`*${id}*`)];
      expect(keys.filter((k) => !k.startsWith(`${namespace}:`))).toEqual([]);
      expect(new Set(keys).size).toBe(10);
    } finally {
      await stores.close();
    }
  });
});
