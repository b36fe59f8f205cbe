import { afterAll, describe, expect, test } from "bun:test";
import { createClient } from "redis";
import { redisKeys } from "../../../src/store/redis/keys.ts";
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

describe("redis message store failures that no retry can pass", () => {
  const from = { user: "alice", device: "d" };

  test("a body JSON.stringify cannot serialise is refused unprocessable before Redis is called, never unavailable", async () => {
    const stores = await redisStores(REDIS_URL, { namespace: `${base}-deep`, historyLimit: 10 });
    try {
      const { id } = await stores.messages.createConversation(["alice"]);
      let body: unknown = 0;
      for (let i = 0; i < 200_000; i++) body = [body];
      const err = await stores.messages.append([{ conv: id, id: "deep", from, body }]).catch((e) => e);
      expect(err).toMatchObject({ code: "unprocessable", message: expect.stringContaining('message "deep"') });
      expect(await stores.messages.lastSeq(id)).toBe(0);
    } finally {
      await stores.close();
    }
  });

  test("an error raised inside the append script is refused unprocessable, every time; a Redis out of reach stays unavailable", async () => {
    const namespace = `${base}-script`;
    const stores = await redisStores(REDIS_URL, { namespace, historyLimit: 10 });
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    try {
      const { id } = await stores.messages.createConversation(["alice"]);
      // A log key of the wrong type (say, written by hand): the script's RPUSH fails every time.
      await client.set(redisKeys(namespace).log(id), "not a list");
      for (let attempt = 0; attempt < 2; attempt++) {
        const err = await stores.messages.append([{ conv: id, id: "m", from, body: 1 }]).catch((e) => e);
        expect(err).toMatchObject({ code: "unprocessable", message: expect.stringContaining("WRONGTYPE") });
      }
    } finally {
      client.destroy();
      await stores.close();
    }
    const closed = await stores.messages.lastSeq("any").catch((e) => e);
    expect(closed).toMatchObject({ code: "unavailable" });
  });
});
