/**
 * Two hubs in process ("nodes") on one Redis namespace, with the Redis broker for the kick
 * between them: the device's second connection, opened after the first's welcome, replaces
 * the first even when the first node's registration reaches Redis late.
 */
import { afterAll, expect, test } from "bun:test";
import { redisBroker } from "../../../src/broker/redis.ts";
import { Hub } from "../../../src/core/hub.ts";
import { createLogger } from "../../../src/core/log.ts";
import type { Stores } from "../../../src/core/ports/store.ts";
import { redisStores } from "../../../src/store/redis/stores.ts";
import { dropKeys, REDIS_URL, testNamespace } from "./fixtures.ts";

const namespace = testNamespace();
const closing: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closing) await close();
  await dropKeys(`${namespace}*`);
});

async function node(nodeId: string, delayFirstRegistration = 0) {
  const stores: Stores = await redisStores(REDIS_URL, { namespace, historyLimit: 100 });
  const broker = redisBroker(REDIS_URL, { namespace, shards: 2, nodeId, sendTimeoutMs: 5000 });
  const register = stores.sessions.register.bind(stores.sessions);
  let first = true;
  stores.sessions.register = async (record, ttl) => {
    if (first) await new Promise((r) => setTimeout(r, delayFirstRegistration));
    first = false;
    return register(record, ttl);
  };
  const hub = new Hub({ nodeId, heartbeatMs: 25_000, rate: 100, maxBufferedBytes: 1 << 20, stores, broker, log: createLogger("error") });
  await broker.start({ sequence: (m) => stores.messages.append(m), ...hub.handlers() });
  closing.push(() => broker.close(), () => stores.close());
  const open = (user: string, device: string) => {
    const frames: Record<string, any>[] = [];
    const closes: number[] = [];
    hub.open({
      send: (text) => { frames.push(JSON.parse(text)); return true; },
      close: (code) => { closes.push(code); },
      ping: () => {}, terminate: () => {}, bufferedAmount: () => 0,
    }, { user, device });
    return { frames, closes };
  };
  return { stores, open };
}

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (const start = Date.now(); !(await ok());) {
    if (Date.now() - start > 10_000) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("a device connecting to another node after its first connection's welcome closes the first with 4409, however late the first registered", async () => {
  const [a, b] = await Promise.all([node("node-a", 300), node("node-b")]);
  const first = a.open("ann", "phone");
  await until("the first connection's welcome", () => first.frames.length > 0);
  const second = b.open("ann", "phone");
  await until("the second connection's welcome", () => second.frames.length > 0);
  await until("the first connection is closed", () => first.closes.length > 0);
  expect(first.closes).toEqual([4409]);
  await new Promise((r) => setTimeout(r, 400));
  expect(second.closes).toEqual([]);
  expect((await b.stores.sessions.byUser("ann")).map((r) => [r.session, r.node])).toEqual([[second.frames[0].session, "node-b"]]);
});
