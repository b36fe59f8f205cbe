/**
 * Poison messages on the real pipeline (Redis + RabbitMQ): a message the shard owner can
 * never store is refused and dead-lettered, and its shard sequences the next message; a
 * message stored before the depth limit is skipped by replays instead of crashing them; a
 * Redis that is away is still waited for, never taken for poison.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect as amqpConnect, type GetMessage } from "amqplib";
import { createClient } from "redis";
import type { PoisonReport } from "../../../src/core/ports/broker.ts";
import { names } from "../../../src/broker/rabbitmq/topology.ts";
import { redisKeys } from "../../../src/store/redis/keys.ts";
import { redisStores } from "../../../src/store/redis/stores.ts";
import { startProxy } from "../../client/proxy.ts";
import { dropNamespace } from "../../cleanup.ts";
import { api, connect, startNode } from "../../harness.ts";
import { redisUrl } from "../../services.ts";
import { AMQP_URL, testNamespace, testNode, waitFor } from "./fixture.ts";

setDefaultTimeout(90_000);

const REDIS_URL = await redisUrl();
const namespaces: string[] = [];
afterAll(async () => {
  for (const ns of namespaces) await dropNamespace(ns, 1);
});

/** JSON text nested `depth` levels: far past what Node's JSON.stringify can take (about 5,000). */
const deepJson = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

async function deadLetters(namespace: string): Promise<GetMessage[]> {
  const conn = await amqpConnect(AMQP_URL);
  try {
    const ch = await conn.createChannel();
    const out: GetMessage[] = [];
    for (;;) {
      const m = await ch.get(names(namespace).deadLetter, { noAck: true });
      if (!m) return out;
      out.push(m);
    }
    return out;
  } finally {
    await conn.close();
  }
}

async function deadLetterCount(namespace: string): Promise<number> {
  const conn = await amqpConnect(AMQP_URL);
  try {
    return (await (await conn.createChannel()).checkQueue(names(namespace).deadLetter)).messageCount;
  } finally {
    await conn.close();
  }
}

const metric = (text: string, name: string) => Number(text.match(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "m"))?.[1] ?? 0);

describe("a poison message on a node over Redis and RabbitMQ (Node runtime)", () => {
  test("is dead-lettered with its shard as routing key, counted, and its shard sequences the next send at once", async () => {
    const namespace = testNamespace();
    namespaces.push(namespace);
    const node = await startNode({
      runtime: "node",
      env: { AMQP_URL, REDIS_URL, DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "1", DUPLEX_SEND_TIMEOUT_MS: "5000" },
    });
    try {
      const [ann, ben] = [`ann-${namespace}`, `ben-${namespace}`];
      const conv = (await api(node, ann, "/api/conversations", { body: { members: [ben] } })).body.id as string;
      const sender = await connect(node, { user: ann, device: "phone" });
      const reader = await connect(node, { user: ben, device: "laptop" });
      sender.send({ type: "send", id: "m1", conv, body: "first" });
      expect((await sender.next("ack")).seq).toBe(1);

      // Straight into the shard queue, past every check a node makes: a request whose body
      // no node on Node can serialise (as an older node could have queued it), and bytes
      // that are no request at all.
      const conn = await amqpConnect(AMQP_URL);
      const ch = await conn.createConfirmChannel();
      const poison = `{"origin":"gone","ref":"r-poison","message":{"conv":"${conv}","id":"poison","from":{"user":"${ann}","device":"old"},"body":${deepJson(100_000)}}}`;
      for (const content of [poison, "not a send"]) {
        ch.publish(names(namespace).ingress, "0", Buffer.from(content), { persistent: true, type: "send", contentType: "application/json" });
      }
      await ch.waitForConfirms();
      await conn.close();

      // Before the policy, this waited behind a batch retried every 5 s for good.
      sender.send({ type: "send", id: "m2", conv, body: "second" });
      const answer = await Promise.race([sender.next("ack", (f) => f.id === "m2", 15_000), sender.next("error", (f) => f.id === "m2", 15_000)]);
      expect(answer).toMatchObject({ type: "ack", seq: 2 });
      await reader.next("msg", (f) => f.seq === 2);
      expect(reader.frames.filter((f) => f.type === "msg").map((f) => (f as { seq: number }).seq)).toEqual([1, 2]);

      // Every node reports what waits there, whoever dead-lettered it.
      await waitForMetric(node.url, "duplex_dead_letter_queue_messages", 2);
      const letters = await pollLetters(namespace, 2);
      const texts = letters.map((m) => m.content.toString());
      expect(texts).toContain("not a send");
      expect(texts).toContain(poison);
      for (const m of letters) {
        expect(m.fields.routingKey).toBe("0");
        const death = (m.properties.headers?.["x-death"] as { reason: string; queue: string }[])[0];
        expect(death).toMatchObject({ reason: "rejected", queue: names(namespace).shard(0) });
      }
      const metrics = await (await fetch(`${node.url}/metrics`)).text();
      expect(metric(metrics, "duplex_messages_dead_lettered_total")).toBe(2);
      expect(node.output()).not.toContain("Maximum call stack size exceeded\n    at");
      expect((await fetch(`${node.url}/livez`)).status).toBe(200);
      sender.close();
      reader.close();
    } finally {
      await node.kill();
    }
  });

  test("stored before the depth limit, it is skipped by sync and history, counted, and the node serves on", async () => {
    const namespace = testNamespace();
    namespaces.push(namespace);
    const node = await startNode({ runtime: "node", env: { AMQP_URL, REDIS_URL, DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "1" } });
    try {
      const [ann, ben] = [`ann-${namespace}`, `ben-${namespace}`];
      const conv = (await api(node, ann, "/api/conversations", { body: { members: [ben] } })).body.id as string;
      const sender = await connect(node, { user: ann, device: "phone" });
      const reader = await connect(node, { user: ben, device: "laptop" });
      const msgs = () => reader.frames.filter((f) => f.type === "msg").map((f) => (f as { seq: number }).seq);
      sender.send({ type: "send", id: "m1", conv, body: 1 });
      await sender.next("ack");
      await storeRaw(namespace, conv, 2, `{"id":"old","from":{"user":"${ann}","device":"old"},"body":${deepJson(100_000)}}`);
      sender.send({ type: "send", id: "m3", conv, body: 3 });
      expect((await sender.next("ack", (f) => f.id === "m3")).seq).toBe(3);
      // Live: the gap before seq 3 is filled from the store, and seq 2 skipped there.
      await reader.next("msg", (f) => f.seq === 3);
      expect(msgs()).toEqual([1, 3]);

      // The reader already holds 1..3 from its live stream, so its sync sends nothing again;
      // a device that was not connected replays the conversation, seq 2 skipped there too.
      reader.send({ type: "sync", conv, after: 0 });
      expect(await reader.next("synced")).toMatchObject({ conv, seq: 3 });
      expect(msgs()).toEqual([1, 3]);
      const tablet = await connect(node, { user: ben, device: "tablet" });
      tablet.send({ type: "sync", conv, after: 0 });
      expect(await tablet.next("synced")).toMatchObject({ conv, seq: 3 });
      expect(tablet.frames.filter((f) => f.type === "msg").map((f) => (f as { seq: number }).seq)).toEqual([1, 3]);
      tablet.close();
      const history = await api(node, ben, `/api/conversations/${conv}/messages`);
      expect(history.status).toBe(200);
      expect(history.body.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 3]);
      const metrics = await (await fetch(`${node.url}/metrics`)).text();
      // Skipped three times: filling the gap before seq 3, the tablet's sync, the history page.
      expect(metric(metrics, "duplex_unencodable_skipped_total")).toBe(3);
      expect(sender.frames.filter((f) => f.type === "msg")).toEqual([]);
      reader.send({ type: "ping", ts: 5 });
      expect(await reader.next("pong")).toEqual({ type: "pong", ts: 5 });
      sender.close();
      reader.close();
    } finally {
      await node.kill();
    }
  });
});

describe("a Redis that is away under the shard owner", () => {
  test("is waited for: the send is stored once Redis is back, and nothing is dead-lettered", async () => {
    const namespace = testNamespace();
    namespaces.push(namespace);
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    const stores = await redisStores(proxy.url.replace(/^http/, "redis"), { namespace, historyLimit: 100 });
    const node = testNode(AMQP_URL, stores.messages, { namespace, shards: 1, sendTimeoutMs: 30_000 });
    const reports: PoisonReport[] = [];
    node.handlers.deadLettered = (r) => reports.push(r);
    try {
      await node.broker.start(node.handlers);
      const conv = await stores.messages.createConversation(["u1"]);
      proxy.offline();
      await waitFor("the store to see Redis gone", () => !stores.ready());
      const sent = node.broker.submit({ origin: node.id, ref: "r1", message: { conv: conv.id, id: "m1", from: { user: "u1", device: "d" }, body: 1 } });
      await waitFor("the owner to try and fail", () => node.sequenced.length > 0);
      await new Promise((r) => setTimeout(r, 1500));
      proxy.online();
      const item = await sent;
      expect(item.message.seq).toBe(1);
      expect(await stores.messages.lastSeq(conv.id)).toBe(1);
      expect(reports).toEqual([]);
      expect(await deadLetterCount(namespace)).toBe(0);
    } finally {
      await node.broker.close();
      await stores.close();
      await proxy.close();
    }
  });
});

/** Writes a message as its text straight into a conversation's log, as an older node stored it. */
async function storeRaw(namespace: string, conv: string, seq: number, payload: string): Promise<void> {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  try {
    const k = redisKeys(namespace);
    expect(await client.hIncrBy(k.conv(conv), "seq", 1)).toBe(seq);
    await client.rPush(k.log(conv), `[${seq},${Date.now()},${payload}]`);
  } finally {
    client.destroy();
  }
}

async function waitForMetric(url: string, name: string, value: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  let seen = 0;
  while ((seen = metric(await (await fetch(`${url}/metrics`)).text(), name)) !== value) {
    if (Date.now() > deadline) throw new Error(`${name} stayed ${seen}, not ${value}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function pollLetters(namespace: string, count: number): Promise<GetMessage[]> {
  const got: GetMessage[] = [];
  const deadline = Date.now() + 20_000;
  while (got.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${got.length} of ${count} messages reached the dead-letter queue`);
    got.push(...(await deadLetters(namespace)));
    await new Promise((r) => setTimeout(r, 100));
  }
  return got;
}
