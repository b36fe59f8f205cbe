/**
 * Three node processes — Bun, Deno and Node — sharing the machine's Redis and RabbitMQ:
 * devices of two users spread over all of them, one order per conversation everywhere,
 * and a SIGKILL of the node that owns a conversation's shard in the middle of a stream.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { shardOf } from "../../src/broker/shard.ts";
import type { ServerFrame } from "../../src/core/protocol.ts";
import { dropNamespace } from "../cleanup.ts";
import { api, connect, type NodeProc, type RuntimeName, startNode, type TestClient, testNamespace } from "../harness.ts";
import { amqpUrl, redisUrl } from "../services.ts";
import { waitFor } from "./rabbitmq/fixture.ts";

setDefaultTimeout(120_000);
const SHARDS = 16;
const RUNTIMES: RuntimeName[] = ["bun", "deno", "node"];

type Msg = Extract<ServerFrame, { type: "msg" }>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Health {
  ready: boolean;
  owned: number[];
}
const health = async (node: NodeProc): Promise<Health> => (await fetch(`${node.url}/healthz`)).json() as Promise<Health>;

/**
 * SIGKILL for a node and every process under it. On Node the harness runs `tsx`, whose
 * CLI starts the real node as a child: killing only the wrapper leaves that child running.
 */
async function killTree(node: NodeProc): Promise<void> {
  const children = (pid: number): number[] => {
    try {
      return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").filter((l) => l.trim()).map(Number);
    } catch {
      return []; // ps exits 1 when there are none
    }
  };
  const tree = (pid: number): number[] => [pid, ...children(pid).flatMap(tree)];
  for (const pid of tree(node.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  await node.exited;
}

/** msg frames of `conv` a device received, in arrival order. */
const received = (client: TestClient, conv: string) =>
  client.frames.filter((f): f is Msg => f.type === "msg" && f.conv === conv);

/**
 * Sends `count` messages, one every `everyMs`, and resends any answered with `error` under
 * the same id (a client that lost its ack does this too) until every one is acked.
 */
async function stream(client: TestClient, conv: string, prefix: string, count: number, everyMs: number) {
  const acked = new Map<string, { seq: number; at: number }>();
  const sentAt = new Map<string, number>();
  const send = (id: string) => {
    sentAt.set(id, performance.now());
    client.send({ type: "send", id, conv, body: { id } });
  };
  let next = 0;
  const timer = setInterval(() => { if (next < count) send(`${prefix}-${next++}`); }, everyMs);
  let seen = 0;
  const deadline = Date.now() + 90_000;
  try {
    while (acked.size < count) {
      if (Date.now() > deadline) throw new Error(`${prefix}: only ${acked.size} of ${count} acked`);
      await sleep(10);
      for (; seen < client.frames.length; seen++) {
        const f = client.frames[seen];
        if (f.type === "ack" && f.conv === conv) acked.set(f.id, { seq: f.seq, at: performance.now() });
        if (f.type === "error" && f.id && !acked.has(f.id)) setTimeout(send, 200, f.id);
      }
    }
  } finally {
    clearInterval(timer);
  }
  return { acked, sentAt };
}

describe("three nodes on Bun, Deno and Node over Redis and RabbitMQ", () => {
  const namespace = testNamespace();
  const secret = `secret-${crypto.randomUUID()}`;
  const nodes: NodeProc[] = [];
  const clients: TestClient[] = [];
  /** Devices: per node, one of alice's and one of bob's. */
  const devices: { node: NodeProc; user: string; client: TestClient }[] = [];

  beforeAll(async () => {
    const env = {
      REDIS_URL: await redisUrl(), AMQP_URL: await amqpUrl(), DUPLEX_NAMESPACE: namespace, DUPLEX_JWT_SECRET: secret,
      DUPLEX_SHARDS: String(SHARDS), DUPLEX_RATE: "1000", DUPLEX_SEND_TIMEOUT_MS: "3000",
    };
    for (const runtime of RUNTIMES) nodes.push(await startNode({ runtime, env }));
    for (const node of nodes) {
      for (const user of ["alice", "bob"]) {
        const client = await connect(node, { user, device: `${user}-on-${node.runtime}` });
        clients.push(client);
        devices.push({ node, user, client });
      }
    }
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map(killTree));
    await dropNamespace(namespace, SHARDS);
  });

  test("spreads shard ownership: every shard has one owner and no node owns them all", async () => {
    let owned: number[][] = [];
    await waitFor("ownership to settle over the three nodes", () => {
      const all = owned.flat();
      return all.length === SHARDS && new Set(all).size === SHARDS;
    }, 30_000, () => {
      void Promise.all(nodes.map(health)).then((hs) => { owned = hs.map((h) => (h.ready ? h.owned : [])); });
    });
    console.log("owned shards:", nodes.map((n, i) => `${n.runtime}=[${owned[i]}]`).join(" "));
    for (const o of owned) expect(o.length).toBeLessThan(SHARDS);
  });

  test("two senders on different nodes: every device sees one identical order, each seq once", async () => {
    const conv = (await api(nodes[0], "alice", "/api/conversations", { body: { members: ["bob"] } })).body.id as string;
    const aliceSender = devices.find((d) => d.user === "alice" && d.node.runtime === "bun")!;
    const bobSender = devices.find((d) => d.user === "bob" && d.node.runtime === "deno")!;
    const perSender = 200;
    const t0 = performance.now();
    const [a, b] = await Promise.all([
      stream(aliceSender.client, conv, "a", perSender, 1),
      stream(bobSender.client, conv, "b", perSender, 1),
    ]);
    const ms = performance.now() - t0;
    console.log(`three runtimes: ${2 * perSender} sends acked in ${ms.toFixed(0)} ms (${Math.round((2 * perSender) / (ms / 1000))} messages/s end to end)`);

    const history = (await api(nodes[2], "bob", `/api/conversations/${conv}/messages?limit=1000`)).body.messages as Msg[];
    expect(history.map((m) => m.seq)).toEqual(Array.from({ length: 2 * perSender }, (_, i) => i + 1));
    const idOf = new Map(history.map((m) => [m.seq, m.id]));
    for (const [id, { seq }] of [...a.acked, ...b.acked]) expect(idOf.get(seq)).toBe(id);

    for (const d of devices) {
      const own = d === aliceSender ? a.acked : d === bobSender ? b.acked : new Map();
      await waitFor(`${d.user} on ${d.node.runtime} to receive every message`, () => received(d.client, conv).length >= history.length - own.size);
      const msgs = received(d.client, conv);
      expect(msgs.length).toBe(history.length - own.size);
      expect(msgs.map((m) => m.seq)).toEqual(history.filter((m) => !own.has(m.id)).map((m) => m.seq));
      for (const m of msgs) expect(m.id).toBe(idOf.get(m.seq)!);
    }
  });

  test("SIGKILL of the shard owner mid-stream: every acked message is stored, survivors converge", async () => {
    const conv = (await api(nodes[0], "alice", "/api/conversations", { body: { members: ["bob"] } })).body.id as string;
    const shard = shardOf(conv, SHARDS);
    const owners = await Promise.all(nodes.map(health));
    const victim = nodes[owners.findIndex((h) => h.owned.includes(shard))];
    const survivors = nodes.filter((n) => n !== victim);
    const aliceSender = devices.find((d) => d.user === "alice" && d.node === survivors[0])!;
    const bobSender = devices.find((d) => d.user === "bob" && d.node === survivors[1])!;
    console.log(`conversation on shard ${shard}, owned by the ${victim.runtime} node: killing it mid-stream`);

    const perSender = 150;
    const streams = Promise.all([
      stream(aliceSender.client, conv, "a", perSender, 10),
      stream(bobSender.client, conv, "b", perSender, 10),
    ]);
    await waitFor("the stream to be under way", () => received(devices.find((d) => d.node === victim)!.client, conv).length > 40);
    const killedAt = performance.now();
    await killTree(victim);
    const [a, b] = await streams;

    // Recovery: from the kill to the first ack of a message first sent after it.
    const after = [...a.acked, ...b.acked].filter(([id]) => (a.sentAt.get(id) ?? b.sentAt.get(id)!) > killedAt);
    const firstAck = Math.min(...after.map(([, v]) => v.at));
    const longest = Math.max(...[a, b].flatMap((s) => [...s.acked].map(([id, v]) => v.at - s.sentAt.get(id)!)));
    const refused = [aliceSender, bobSender].reduce((n, d) => n + d.client.frames.filter((f) => f.type === "error").length, 0);
    console.log(`failover: first ack of a message sent after the SIGKILL came ${(firstAck - killedAt).toFixed(0)} ms after it; ` +
      `longest wait from a last send to its ack ${longest.toFixed(0)} ms; ${refused} sends answered "error" and resent`);

    const history = (await api(survivors[0], "alice", `/api/conversations/${conv}/messages?limit=1000`)).body.messages as Msg[];
    expect(history.map((m) => m.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
    expect(new Set(history.map((m) => m.id)).size).toBe(history.length);
    expect(history.length).toBe(2 * perSender);
    const idOf = new Map(history.map((m) => [m.seq, m.id]));
    for (const [id, { seq }] of [...a.acked, ...b.acked]) expect(idOf.get(seq)).toBe(id);

    for (const d of devices.filter((x) => x.node !== victim)) {
      const own = d === aliceSender ? a.acked : d === bobSender ? b.acked : new Map();
      const expected = history.filter((m) => !own.has(m.id)).map((m) => m.seq);
      await waitFor(`${d.user} on ${d.node.runtime} to converge`, () => received(d.client, conv).length >= expected.length);
      const live = received(d.client, conv).map((m) => m.seq);
      expect(live).toEqual(expected);
    }
  });
});
