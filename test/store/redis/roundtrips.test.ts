/**
 * Counts the Redis round trips of store calls through a loopback proxy that sees every
 * byte: a round trip is a burst of client bytes after the server last spoke. Prints what
 * it measured. A pipelined batch may reach Redis in several TCP segments that it starts
 * answering in between, so batches are held to "fewer than one per conversation" only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { Broker } from "../../../src/core/ports/broker.ts";
import { redisBroker } from "../../../src/broker/redis.ts";
import type { NewMessage, Stores } from "../../../src/core/ports/store.ts";
import { redisStores } from "../../../src/store/redis/stores.ts";
import { dropKeys, REDIS_URL, testNamespace } from "./fixtures.ts";

/** A TCP proxy to Redis that counts request bursts. */
async function countingProxy(target: URL): Promise<{ url: string; flights(): number; server: Server }> {
  let flights = 0;
  const server = createServer((client: Socket) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    let serverSpoke = true;
    client.on("data", (chunk) => {
      if (serverSpoke) flights++;
      serverSpoke = false;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      serverSpoke = true;
      client.write(chunk);
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { url: `redis://127.0.0.1:${port}`, flights: () => flights, server };
}

const namespace = testNamespace();
let proxy: Awaited<ReturnType<typeof countingProxy>>;
let stores: Stores;
let broker: Broker;

beforeAll(async () => {
  proxy = await countingProxy(new URL(REDIS_URL));
  stores = await redisStores(proxy.url, { namespace, historyLimit: 1000 });
  broker = redisBroker(proxy.url, { namespace, shards: 1, nodeId: "node-rt", sendTimeoutMs: 5000 });
  await broker.start({ sequence: (m) => stores.messages.append(m), deliver: () => {}, control: () => {} });
});

afterAll(async () => {
  await broker?.close();
  await stores?.close();
  proxy?.server.close();
  await dropKeys(`${namespace}:*`);
});

async function roundTrips(call: () => Promise<unknown>): Promise<number> {
  await call(); // the first call of a script may pay a NOSCRIPT fallback; measure the steady state
  const before = proxy.flights();
  await call();
  return proxy.flights() - before;
}

const msg = (conv: string, i: number): NewMessage => ({ conv, id: `m${i}-${crypto.randomUUID()}`, from: { user: "alice", device: "phone" }, body: { i } });

describe("redis round trips", () => {
  test("one append of one message costs one round trip", async () => {
    const { id } = await stores.messages.createConversation(["alice"]);
    const trips = await roundTrips(() => stores.messages.append([msg(id, 1)]));
    console.log(`append, 1 message: ${trips} round trip(s)`);
    expect(trips).toBe(1);
  });

  test("a batch of 64 messages over 8 conversations is pipelined, not sent call by call", async () => {
    const convs = await Promise.all(Array.from({ length: 8 }, () => stores.messages.createConversation(["alice"])));
    const trips = await roundTrips(() => stores.messages.append(Array.from({ length: 64 }, (_, i) => msg(convs[i % 8].id, i))));
    console.log(`append, 64 messages in 8 conversations: ${trips} round trip(s), ${(trips / 64).toFixed(3)} per message`);
    expect(trips).toBeLessThan(8);
  });

  test("a node's heartbeat refresh of 200 sessions is pipelined; register costs one, two when it replaces", async () => {
    const records = Array.from({ length: 200 }, (_, i) => ({
      session: crypto.randomUUID(), user: `u${i}`, device: "phone", node: "node-rt", connectedAt: 1, lastSeen: 1,
    }));
    for (const r of records) await stores.sessions.register(r, 60_000);
    const trips = await roundTrips(() => stores.sessions.refresh("node-rt", records, 60_000));
    console.log(`refresh, 200 sessions: ${trips} round trip(s)`);
    expect(trips).toBeLessThan(10);
    const fresh = { ...records[0], user: "new-user" };
    expect(await roundTrips(() => stores.sessions.register({ ...fresh, device: crypto.randomUUID() }, 60_000))).toBe(1);
    expect(await roundTrips(() => stores.sessions.register({ ...fresh, session: crypto.randomUUID() }, 60_000))).toBe(2);
  });

  test("a send through the Redis broker costs the append and one PUBLISH; a burst shares both", async () => {
    const { id } = await stores.messages.createConversation(["alice"]);
    const submit = (i: number) => broker.submit({ origin: "node-rt", ref: `r${i}`, message: msg(id, i) });
    const one = await roundTrips(() => submit(0));
    const burst = await roundTrips(() => Promise.all(Array.from({ length: 64 }, (_, i) => submit(i))));
    console.log(`redis broker: 1 send ${one} round trips; 64 concurrent sends ${burst} round trips`);
    expect(one).toBe(2);
    expect(burst).toBeLessThanOrEqual(4);
  });
});
