/**
 * Two node processes sharing the machine's Redis (REDIS_URL, no AMQP_URL: the Redis
 * broker), black-box: sessions in Redis, a crashed node purged by the survivor, history
 * across a restart, a device moving between nodes, and messages crossing nodes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, connect, type NodeProc, startNode, type TestClient, testNamespace } from "../harness.ts";
import { dropKeys, listKeys, readHash, REDIS_URL } from "./redis/fixtures.ts";

const HEARTBEAT_MS = 1000;
const namespace = testNamespace();
const env = {
  REDIS_URL, DUPLEX_NAMESPACE: namespace, DUPLEX_HEARTBEAT_MS: String(HEARTBEAT_MS),
  DUPLEX_JWT_SECRET: `secret-${crypto.randomUUID()}`,
};
const sessionKey = (user: string, device: string) => `${namespace}:session:{u:${user}}:${device}`;
const uid = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;

async function eventually(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

let a: NodeProc;
let b: NodeProc;
const clients: TestClient[] = [];
const open = async (node: NodeProc, user: string, device: string) => {
  const c = await connect(node, { user, device });
  clients.push(c);
  return c;
};

// Bun and Deno, not Node: the harness's kill() of a tsx-started node leaves tsx's child running.
beforeAll(async () => {
  [a, b] = await Promise.all([startNode({ runtime: "bun", env }), startNode({ runtime: "deno", env })]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([a?.kill(), b?.kill()]);
  await dropKeys(`${namespace}:*`);
});

describe("two nodes sharing Redis", () => {
  test("a session is in Redis, and in presence on the other node, while connected; gone after close", async () => {
    const user = uid("alice");
    const phone = await open(a, user, "phone");
    await eventually("the session is in Redis", async () => (await readHash(sessionKey(user, "phone"))).session === phone.welcome.session);
    expect(await readHash(sessionKey(user, "phone"))).toMatchObject({ user, device: "phone", node: a.nodeId });
    // Presence is shown to the users one shares a conversation with.
    await api(b, "someone", "/api/conversations", { body: { members: [user] } });
    const presence = await api(b, "someone", `/api/presence?users=${user}`);
    expect(presence.body.users[user]).toMatchObject({ online: true, devices: [{ device: "phone", node: a.nodeId }] });

    phone.close();
    await eventually("the session left Redis", async () => Object.keys(await readHash(sessionKey(user, "phone"))).length === 0);
    expect((await api(b, "someone", `/api/presence?users=${user}`)).body.users[user].online).toBe(false);
  });

  test("a message sent on one node reaches the other node's devices in order, and the sender's other devices", async () => {
    const [alice, bob] = [uid("alice"), uid("bob")];
    const { body: conv } = await api(a, alice, "/api/conversations", { body: { members: [bob] } });
    const sender = await open(a, alice, "phone");
    const laptop = await open(b, alice, "laptop");
    const receiver = await open(b, bob, "phone");
    for (let i = 1; i <= 20; i++) sender.send({ type: "send", id: `m${i}`, conv: conv.id, body: { i } });
    for (let i = 1; i <= 20; i++) expect(await sender.next("ack", (f) => f.id === `m${i}`)).toMatchObject({ seq: i });
    for (const device of [receiver, laptop]) {
      for (let i = 1; i <= 20; i++) expect(await device.next("msg")).toMatchObject({ conv: conv.id, seq: i, id: `m${i}`, body: { i } });
    }
  });

  test("the same device connecting on the other node closes the old socket with 4409 replaced", async () => {
    const user = uid("carol");
    const first = await open(a, user, "tablet");
    await eventually("the first session is in Redis", async () => (await readHash(sessionKey(user, "tablet"))).node === a.nodeId);
    const second = await open(b, user, "tablet");
    expect(await first.closed).toEqual({ code: 4409, reason: "replaced" });
    second.send({ type: "ping", ts: 1 });
    expect(await second.next("pong")).toEqual({ type: "pong", ts: 1 });
    expect(await readHash(sessionKey(user, "tablet"))).toMatchObject({ session: second.welcome.session, node: b.nodeId });
  });
});

describe("a node that dies or restarts", () => {
  test("history survives a node restart", async () => {
    const [alice, bob] = [uid("alice"), uid("bob")];
    const { body: conv } = await api(a, alice, "/api/conversations", { body: { members: [bob] } });
    const sender = await open(a, alice, "phone");
    for (let i = 1; i <= 3; i++) {
      sender.send({ type: "send", id: `h${i}`, conv: conv.id, body: i });
      await sender.next("ack", (f) => f.id === `h${i}`);
    }
    expect(await a.stop("SIGTERM")).toBe(0);
    a = await startNode({ runtime: "bun", env });
    const reader = await open(a, bob, "phone");
    reader.send({ type: "sync", conv: conv.id, after: 0 });
    for (let i = 1; i <= 3; i++) expect(await reader.next("msg")).toMatchObject({ seq: i, id: `h${i}`, body: i });
    expect(await reader.next("synced")).toMatchObject({ conv: conv.id, seq: 3 });
  });

  test("SIGKILL of a node: the survivor purges its sessions and sweeps its index within two heartbeats", async () => {
    const victim = await startNode({ runtime: "bun", env });
    const users = [uid("dave"), uid("erin"), uid("frank")];
    for (const u of users) await open(victim, u, "phone");
    await api(b, "someone", "/api/conversations", { body: { members: users } });
    await eventually("the victim's sessions are in Redis", async () =>
      (await Promise.all(users.map((u) => readHash(sessionKey(u, "phone"))))).every((h) => h.node === victim.nodeId));
    await victim.kill();
    const killedAt = Date.now();
    const presenceGone = async () => {
      const { body } = await api(b, "someone", `/api/presence?users=${users.join(",")}`);
      return users.every((u) => !body.users[u].online);
    };
    // The waits below are only timeouts; the contract's bound, with half an interval of
    // scheduling slack, is asserted on what they measured.
    await eventually("presence shows them offline", presenceGone);
    const purgedMs = Date.now() - killedAt;
    await eventually("the survivor's sweep forgot the node and its index", async () =>
      (await listKeys(`${namespace}:node:{n:${victim.nodeId}}*`)).length === 0);
    const sweptMs = Date.now() - killedAt;
    const bound = 2 * HEARTBEAT_MS + HEARTBEAT_MS / 2;
    console.log(
      `SIGKILLed node (heartbeat ${HEARTBEAT_MS} ms): sessions gone from presence after ${purgedMs} ms, ` +
        `its index swept after ${sweptMs} ms (contract bound ${2 * HEARTBEAT_MS} ms, asserted with slack: ${bound} ms)`,
    );
    expect(purgedMs).toBeLessThanOrEqual(bound);
    expect(sweptMs).toBeLessThanOrEqual(bound);
    for (const u of users) expect(await readHash(sessionKey(u, "phone"))).toEqual({});
  });
});
