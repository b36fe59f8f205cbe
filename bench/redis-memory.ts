/**
 * Redis memory per session and per stored message, as docs/13-production.md cites them.
 *   node_modules/.bin/bun run bench/redis-memory.ts [REDIS_URL]
 * Writes through duplex's own Redis store (the keys and Lua scripts a node uses) into a
 * namespace of its own, then sums MEMORY USAGE (SAMPLES 0: exact) over every key of that
 * namespace. The INFO used_memory delta is printed beside it as a cross-check only: on a
 * shared Redis other clients move it. Everything it wrote is deleted at the end.
 */
import { createClient } from "redis";
import { redisStores } from "../src/store/redis/stores.ts";

const url = process.argv[2] ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const namespace = `mem-${crypto.randomUUID().slice(0, 8)}`;
const HISTORY = 10_000;
const stores = await redisStores(url, { namespace, historyLimit: HISTORY });
const redis = createClient({ url });
await redis.connect();

const keysOf = async () => {
  const keys: string[] = [];
  for await (const batch of redis.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) keys.push(...batch);
  return keys;
};
const bytesOfNamespace = async () => {
  let total = 0;
  for (const key of await keysOf()) total += (await redis.memoryUsage(key, { SAMPLES: 0 })) ?? 0;
  return total;
};
const usedMemory = async () => Number((await redis.info("memory")).match(/used_memory:(\d+)/)![1]);

interface Figure { what: string; count: number; bytesEach: number; infoDeltaEach: number }
const figures: Figure[] = [];
async function measure(what: string, count: number, write: () => Promise<void>): Promise<void> {
  const keysBefore = await bytesOfNamespace();
  const infoBefore = await usedMemory();
  await write();
  figures.push({
    what, count,
    bytesEach: Math.round((await bytesOfNamespace() - keysBefore) / count),
    infoDeltaEach: Math.round((await usedMemory() - infoBefore) / count),
  });
}

try {
  const SESSIONS = 5000;
  await measure("session (user-000123 / phone, node n-1)", SESSIONS, async () => {
    const now = Date.now();
    for (let i = 0; i < SESSIONS; i += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, j) => stores.sessions.register({
        session: crypto.randomUUID(), user: `user-${String(i + j).padStart(6, "0")}`, device: "phone", node: "n-1",
        connectedAt: now, lastSeen: now,
      }, 60_000)));
    }
  });

  const body = "x".repeat(100);
  const messages = (conv: string, from: number, n: number) => Array.from({ length: n }, (_, i) => ({
    conv, id: `m-${crypto.randomUUID().slice(0, 12)}-${from + i}`, from: { user: "user-000001", device: "phone" }, body,
  }));
  // Short conversations keep their log and idempotency set in Redis' compact encoding (listpack).
  const CONVS = 250, PER_CONV = 20;
  await measure(`message, 100-byte body, in ${CONVS} conversations of ${PER_CONV}`, CONVS * PER_CONV, async () => {
    for (let c = 0; c < CONVS; c++) {
      const conv = await stores.messages.createConversation(["user-000001", "user-000002"]);
      await stores.messages.append(messages(conv.id, 0, PER_CONV));
    }
  });
  // A long one converts both to their general encodings (list of nodes, skiplist): more per message.
  const LONG = 5000;
  await measure(`message, 100-byte body, in one conversation of ${LONG}`, LONG, async () => {
    const conv = await stores.messages.createConversation(["user-000001", "user-000002"]);
    for (let i = 0; i < LONG; i += 100) await stores.messages.append(messages(conv.id, i, 100));
  });
  const big = "y".repeat(1000);
  await measure(`message, 1000-byte body, in one conversation of ${LONG}`, LONG, async () => {
    const conv = await stores.messages.createConversation(["user-000001", "user-000002"]);
    for (let i = 0; i < LONG; i += 100) await stores.messages.append(messages(conv.id, i, 100).map((m) => ({ ...m, body: big })));
  });

  const version = (await redis.info("server")).match(/redis_version:(\S+)/)![1];
  console.log(`Redis ${version}, namespace ${namespace}, MEMORY USAGE SAMPLES 0 summed over the namespace's keys`);
  console.log("| what | count | bytes each (MEMORY USAGE) | bytes each (INFO used_memory delta) |");
  console.log("| --- | --- | --- | --- |");
  for (const f of figures) console.log(`| ${f.what} | ${f.count} | ${f.bytesEach} | ${f.infoDeltaEach} |`);
} finally {
  const keys = await keysOf();
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(keys.slice(i, i + 500));
  await redis.quit();
  await stores.close();
}
