/**
 * Broker faults against a RabbitMQ node of this test's own — from Testcontainers where a
 * Docker engine answers (rabbit-container.ts), else a process with its own node
 * name, ports and files (see /work/shared/notes/second-rabbitmq-node.md): the shared one is
 * never touched.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Sequenced } from "../../../src/core/ports/broker.ts";
import { DuplexError } from "../../../src/core/errors.ts";
import { MemoryMessageStore } from "../../../src/store/memory.ts";
import { cleanUpAfterAll } from "../../cli/deploy/support.ts";
import { api, connect, startNode } from "../../harness.ts";
import { redisUrl } from "../../services.ts";
import { dropKeys } from "../../store/redis/fixtures.ts";
import type { OwnRabbit } from "./own-rabbitmq.ts";
import { ownRabbit } from "./rabbit-container.ts";
import { deleteNamespace, testNamespace, testNode, waitFor } from "./fixture.ts";

setDefaultTimeout(60_000);
cleanUpAfterAll();

let rabbit: OwnRabbit;

beforeAll(async () => {
  const t0 = performance.now();
  rabbit = await ownRabbit(`duplex-test-${testNamespace()}`, 55_000);
  console.log(`own RabbitMQ ${rabbit.node} up in ${(performance.now() - t0).toFixed(0)} ms`);
}, 90_000);

afterAll(async () => {
  await rabbit?.stop();
}, 45_000);

/** Three brokers on the test's own RabbitMQ, all submitting to `convs` every few ms until stopped. */
async function trafficOn(heartbeatSeconds: number) {
  const namespace = testNamespace();
  const store = new MemoryMessageStore();
  const nodes = [0, 1, 2].map(() => testNode(rabbit.url(), store, { namespace, shards: 4, sendTimeoutMs: 5000, heartbeatSeconds }));
  for (const n of nodes) await n.broker.start(n.handlers);
  const convs = await Promise.all([0, 1, 2, 3].map(() => store.createConversation(["u1"])));
  const submits: Promise<Sequenced>[] = [];
  let i = 0;
  const timer = setInterval(() => {
    for (const conv of convs) {
      const node = nodes[i % 3];
      const submit = node.broker.submit({ origin: node.id, ref: crypto.randomUUID(), message: { conv: conv.id, id: `m${i}-${conv.id}`, from: { user: "u1", device: "d" }, body: i } });
      submit.catch(() => {}); // judged in finish()
      submits.push(submit);
    }
    i++;
  }, 5);
  const ready = () => nodes.every((n) => n.broker.status().ready);
  return {
    nodes, store, convs, ready,
    /** Stops the traffic; every submit settled: resolved ones checked against the store. */
    async finish() {
      clearInterval(timer);
      const outcomes = await Promise.allSettled(submits);
      let resolved = 0;
      for (const o of outcomes) {
        if (o.status === "fulfilled") {
          resolved++;
          expect(await store.range(o.value.message.conv, o.value.message.seq - 1, 1)).toEqual([o.value.message]);
        } else {
          expect(o.reason).toBeInstanceOf(DuplexError);
          expect(o.reason.code).toBe("unavailable");
        }
      }
      for (const conv of convs) {
        const last = await store.lastSeq(conv.id);
        expect((await store.range(conv.id, 0, last + 1)).map((m) => m.seq)).toEqual(Array.from({ length: last }, (_, k) => k + 1));
      }
      await Promise.all(nodes.map((n) => n.broker.close()));
      await deleteNamespace(rabbit.url(), namespace, 4);
      return { resolved, rejected: outcomes.length - resolved };
    },
  };
}

describe("RabbitMQ broker faults", () => {
  test("recovers by itself from a broker restart mid-traffic, without losing an acked message", async () => {
    const run = await trafficOn(2);
    await waitFor("traffic to flow", () => run.nodes.every((n) => n.delivered.length > 100));
    await rabbit.ctl("stop_app");
    await waitFor("every broker instance to notice", () => run.nodes.every((n) => !n.broker.status().ready));
    await new Promise((r) => setTimeout(r, 1000));
    const back = performance.now();
    await rabbit.ctl("start_app");
    await waitFor("every broker instance to recover", run.ready, 30_000);
    console.log(`broker restart: instances ready again ${(performance.now() - back).toFixed(0)} ms after start_app returned`);
    const before = run.nodes.map((n) => n.delivered.length);
    await waitFor("traffic to flow again", () => run.nodes.every((n, i) => n.delivered.length > before[i] + 100));
    const { resolved, rejected } = await run.finish();
    console.log(`broker restart: ${resolved} submits resolved (all stored), ${rejected} rejected unavailable`);
    expect(resolved).toBeGreaterThan(0);
  });

  test("notices a frozen broker through heartbeats, and recovers once it thaws", async () => {
    const run = await trafficOn(1);
    await waitFor("traffic to flow", () => run.nodes.every((n) => n.delivered.length > 100));
    const frozen = performance.now();
    process.kill(rabbit.pid(), "SIGSTOP");
    try {
      await waitFor("the instances to notice the silence", () => run.nodes.every((n) => !n.broker.status().ready), 15_000);
      console.log(`frozen broker: noticed after ${(performance.now() - frozen).toFixed(0)} ms at a 1 s heartbeat`);
    } finally {
      process.kill(rabbit.pid(), "SIGCONT");
    }
    const thawed = performance.now();
    await waitFor("every broker instance to recover", run.ready, 40_000);
    console.log(`frozen broker: instances ready again ${(performance.now() - thawed).toFixed(0)} ms after it thawed`);
    const before = run.nodes.map((n) => n.delivered.length);
    await waitFor("traffic to flow again", () => run.nodes.every((n, i) => n.delivered.length > before[i] + 100));
    const { resolved, rejected } = await run.finish();
    console.log(`frozen broker: ${resolved} submits resolved (all stored), ${rejected} rejected unavailable`);
  });
});

describe("a node's readiness follows its broker", () => {
  test("/readyz and /healthz answer 503 while the broker is away and 200 once it is back", async () => {
    const namespace = testNamespace();
    const node = await startNode({ env: { AMQP_URL: rabbit.url(), REDIS_URL: await redisUrl(), DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "4" } });
    const status = async (path: string) => (await fetch(node.url + path)).status;
    try {
      expect(await status("/readyz")).toBe(200);
      await rabbit.ctl("stop_app");
      await waitForAsync("/readyz to answer 503", async () => (await status("/readyz")) === 503);
      expect(await status("/healthz")).toBe(503);
      expect(await status("/livez")).toBe(200);
      await rabbit.ctl("start_app");
      await waitForAsync("/readyz to answer 200 again", async () => (await status("/readyz")) === 200, 30_000);
      const metrics = await (await fetch(`${node.url}/metrics`)).text();
      expect(metrics).toMatch(/^duplex_broker_reconnects_total\{[^}]*\} 1$/m);
    } finally {
      await node.kill();
      await deleteNamespace(rabbit.url(), namespace, 4);
      await dropKeys(`${namespace}:*`);
    }
  });
});

describe("a node process through a broker restart", () => {
  test("answers every send with ack or unavailable while sending on, and stores and delivers every acked one", async () => {
    const namespace = testNamespace();
    const node = await startNode({
      env: { AMQP_URL: rabbit.url(), REDIS_URL: await redisUrl(), DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "4", DUPLEX_SEND_TIMEOUT_MS: "3000" },
    });
    const [ann, ben] = [`ann-${namespace}`, `ben-${namespace}`];
    try {
      const conv = (await api(node, ann, "/api/conversations", { body: { members: [ben] } })).body.id as string;
      const sender = await connect(node, { user: ann, device: "phone" });
      const reader = await connect(node, { user: ben, device: "laptop" });
      const answers = () => sender.frames.filter((f) => f.type === "ack" || f.type === "error");
      const acks = () => sender.frames.filter((f) => f.type === "ack");
      let sent = 0;
      const timer = setInterval(() => sender.send({ type: "send", id: `m${sent++}`, conv, body: sent }), 20);
      try {
        await waitFor("acks before the restart", () => acks().length >= 20);
        await rabbit.ctl("stop_app");
        await waitForAsync("the node to see the broker gone", async () => (await fetch(`${node.url}/readyz`)).status === 503);
        await new Promise((r) => setTimeout(r, 1000));
        await rabbit.ctl("start_app");
        const ackedBefore = acks().length;
        await waitFor("acks after the restart", () => acks().length >= ackedBefore + 20, 30_000);
      } finally {
        clearInterval(timer);
      }
      await waitFor("an answer to every send", () => answers().length >= sent, 10_000);
      const ids = answers().map((f) => (f as { id?: string }).id);
      expect(new Set(ids).size).toBe(sent);
      const refused = sender.frames.filter((f) => f.type === "error");
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((f) => (f as { code: string }).code === "unavailable")).toBe(true);
      const acked = acks() as unknown as { id: string; seq: number }[];
      const stored = (await api(node, ann, `/api/conversations/${conv}/messages?limit=1000`)).body.messages as { id: string; seq: number }[];
      expect(stored.map((m) => m.seq)).toEqual(stored.map((_, k) => k + 1));
      const byId = new Map(stored.map((m) => [m.id, m.seq]));
      for (const a of acked) expect(byId.get(a.id)).toBe(a.seq);
      await waitFor("the reader to get every stored message", () => reader.frames.filter((f) => f.type === "msg").length >= stored.length, 10_000);
      expect(reader.frames.filter((f) => f.type === "msg").map((f) => (f as { seq: number }).seq)).toEqual(stored.map((m) => m.seq));
      console.log(`broker restart under a node process: ${sent} sends, ${acked.length} acked, ${refused.length} unavailable; ${stored.length} stored and delivered once, in order`);
      sender.close();
      reader.close();
    } finally {
      await node.kill();
      await deleteNamespace(rabbit.url(), namespace, 4);
      await dropKeys(`${namespace}:*`);
    }
  });
});

async function waitForAsync(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
