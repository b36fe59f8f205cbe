/**
 * The RabbitMQ pipeline against the machine's RabbitMQ (127.0.0.1:5672): the broker suite,
 * then what only a cluster of brokers shows. Several instances in one process, one
 * namespace per test, deleted afterwards.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connect, type GetMessage } from "amqplib";
import type { PoisonReport, Sequenced } from "../../../src/core/ports/broker.ts";
import { ownerOf } from "../../../src/broker/rabbitmq/ownership.ts";
import { rabbitmqBroker } from "../../../src/broker/rabbitmq/broker.ts";
import type { RabbitmqBrokerOptions } from "../../../src/broker/rabbitmq/options.ts";
import { names } from "../../../src/broker/rabbitmq/topology.ts";
import { shardOf } from "../../../src/broker/shard.ts";
import { DuplexError, duplexError } from "../../../src/core/errors.ts";
import { createLogger } from "../../../src/core/log.ts";
import { MemoryMessageStore } from "../../../src/store/memory.ts";
import { brokerSuite } from "../broker.suite.ts";
import {
  AMQP_URL, deleteNamespace, deliveredSeqs, type TestNode, testNamespace, testNode, waitFor,
} from "./fixture.ts";

setDefaultTimeout(60_000);

// Instances on one namespace are the nodes of one cluster. A short sendTimeoutMs bounds
// how long close() waits for a batch the suite holds behind its gate.
brokerSuite("rabbitmq", async (instances) => {
  const namespace = testNamespace();
  const log = createLogger("error");
  const brokers = Array.from({ length: instances }, (_, i) =>
    rabbitmqBroker(AMQP_URL, { namespace, shards: 4, nodeId: `node-${i}`, sendTimeoutMs: 2000, log }));
  return {
    brokers,
    close: async () => {
      await Promise.all(brokers.map((b) => b.close()));
      await deleteNamespace(AMQP_URL, namespace, 4);
    },
  };
});

const teardown: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of teardown.splice(0).reverse()) await step().catch(() => {});
});

/** Nodes over one fresh namespace sharing one store; closed and deleted after the test. */
function cluster(count: number, options: Partial<RabbitmqBrokerOptions> = {}, perNode: Partial<RabbitmqBrokerOptions>[] = []) {
  const namespace = options.namespace ?? testNamespace();
  const store = new MemoryMessageStore();
  const nodes = Array.from({ length: count }, (_, i) => testNode(AMQP_URL, store, { ...options, ...perNode[i], namespace }));
  teardown.push(async () => {
    await Promise.all(nodes.map((n) => n.broker.close()));
    await deleteNamespace(AMQP_URL, namespace, options.shards ?? 8);
  });
  return { namespace, store, nodes, start: async () => { for (const n of nodes) await n.broker.start(n.handlers); } };
}

function send(node: TestNode, conv: string, id: string, user = "u1") {
  return node.broker.submit({ origin: node.id, ref: crypto.randomUUID(), message: { conv, id, from: { user, device: "d1" }, body: { id } } });
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** One conversation in each of the 8 shards: shard → conversation id. */
async function conversationPerShard(store: MemoryMessageStore): Promise<Map<number, string>> {
  const convs = new Map<number, string>();
  while (convs.size < 8) {
    const c = await store.createConversation(["u1"]);
    if (!convs.has(shardOf(c.id, 8))) convs.set(shardOf(c.id, 8), c.id);
  }
  return convs;
}

/** Until every shard is owned by exactly one node. */
function settled(nodes: TestNode[], shards = 8) {
  return waitFor("shard ownership to settle", () => {
    const owned = nodes.flatMap((n) => n.broker.status().owned);
    return owned.length === shards && new Set(owned).size === shards;
  });
}

for (const queueType of ["quorum", "classic"] as const) {
  describe(`RabbitMQ broker pipeline on ${queueType} shard queues`, () => {
    const clusterOf = (count: number, options: Partial<RabbitmqBrokerOptions> = {}, perNode: Partial<RabbitmqBrokerOptions>[] = []) =>
      cluster(count, { queueType, ...options }, perNode);

    test("keeps one order per conversation while three nodes submit at once, delivering each seq once on every node", async () => {
      const { nodes, store, start } = clusterOf(3);
      await start();
      const convs = await Promise.all(range(6).map(() => store.createConversation(["u1", "u2"])));
      const perConv = 150;
      const issued: { node: number; conv: string; done: Promise<Sequenced> }[] = [];
      const t0 = performance.now();
      for (let i = 0; i < perConv; i++) {
        for (const c of convs) {
          const node = (i + convs.indexOf(c)) % 3;
          issued.push({ node, conv: c.id, done: send(nodes[node], c.id, `m-${c.id}-${i}`) });
        }
      }
      const results = await Promise.all(issued.map((x) => x.done));
      const ms = performance.now() - t0;
      console.log(`pipeline on ${queueType} queues: ${results.length} submits over 3 brokers in ${ms.toFixed(0)} ms = ${Math.round(results.length / (ms / 1000))} messages/s`);

      for (const r of results) expect(await store.range(r.message.conv, r.message.seq - 1, 1)).toEqual([r.message]);
      // Each node's submits to one conversation were sequenced in the order it issued them.
      for (const node of [0, 1, 2]) {
        for (const c of convs) {
          const seqs = issued.flatMap((x, i) => (x.node === node && x.conv === c.id ? [results[i].message.seq] : []));
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
        }
      }
      await waitFor("every node to receive every message", () => nodes.every((n) => n.delivered.length >= results.length));
      for (const n of nodes) {
        expect(n.delivered.length).toBe(results.length);
        const seqs = deliveredSeqs(n);
        for (const c of convs) expect(seqs.get(c.id)).toEqual(range(perConv));
      }
    });

    test("spreads shard ownership over three nodes, and each shard ends up sequenced by its owner", async () => {
      const { nodes, store, start } = clusterOf(3);
      await start();
      await settled(nodes);
      const owned = nodes.map((n) => n.broker.status().owned);
      console.log("owned shards:", owned.map((o, i) => `${nodes[i].id}=[${o}]`).join(" "));
      for (const o of owned) expect(o.length).toBeLessThan(8);

      const convOfShard = await conversationPerShard(store);
      const ownerOfShard = (s: number) => nodes.find((n) => n.broker.status().owned.includes(s))!;
      // Standbys step back asynchronously: probe each shard until its owner is the one sequencing.
      let round = 0;
      for (const [s, conv] of convOfShard) {
        for (;;) {
          const id = `probe-${s}-${round++}`;
          await send(nodes[0], conv, id);
          if (ownerOfShard(s).sequenced.some((m) => m.id === id)) break;
          if (round > 400) throw new Error(`shard ${s} is still sequenced by a node that does not own it`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    });

    test("hands a closing node's shards to the others without losing a message", async () => {
      const { nodes, store, start } = clusterOf(3);
      await start();
      await settled(nodes);
      // Node ids are random, so a node may own no shard at all: c is one that owns some.
      const [c, a, b] = [...nodes].sort((x, y) => y.broker.status().owned.length - x.broker.status().owned.length);
      const convs = [...(await conversationPerShard(store)).values()];
      const pending: Promise<Sequenced>[] = [];
      let i = 0;
      const stream = setInterval(() => {
        for (const conv of convs) {
          const sent = send(i % 2 ? a : b, conv, `s-${i}-${conv}`);
          sent.catch(() => {}); // judged below, all together
          pending.push(sent);
        }
        i++;
      }, 10);
      await waitFor("traffic to flow through c", () => c.sequenced.length > 50);
      const t0 = performance.now();
      await c.broker.close();
      console.log(`close() with shards in hand took ${(performance.now() - t0).toFixed(0)} ms`);
      await new Promise((r) => setTimeout(r, 500));
      clearInterval(stream);
      const results = await Promise.all(pending);
      await settled([a, b]);
      for (const r of results) expect(await store.range(r.message.conv, r.message.seq - 1, 1)).toEqual([r.message]);
      await waitFor("a and b to receive everything", () => [a, b].every((n) => n.delivered.length >= results.length));
      for (const n of [a, b]) {
        const seqs = deliveredSeqs(n);
        for (const conv of convs) expect(seqs.get(conv)).toEqual(range(await store.lastSeq(conv)));
      }
    });

    test("recognises a redelivered message through the store's idempotency record and delivers it once", async () => {
      // x must own the only shard while both run, so that y is its standby.
      let ids: string[];
      do ids = [`x-${crypto.randomUUID().slice(0, 6)}`, `y-${crypto.randomUUID().slice(0, 6)}`];
      while (ownerOf(0, ids) !== ids[0]);
      // x gives up its batch in hand on close after its sendTimeoutMs; y waits longer.
      const { nodes, store, start } = clusterOf(2, { shards: 1 }, [{ nodeId: ids[0], sendTimeoutMs: 1000 }, { nodeId: ids[1] }]);
      const [x, y] = nodes;
      let release!: () => void;
      const stuck = new Promise<void>((r) => (release = r));
      x.handlers.sequence = async (messages) => {
        x.sequenced.push(...messages);
        const appended = await store.append(messages);
        await stuck; // stored, but x "dies" before fanning it out
        return appended;
      };
      await start();
      await settled(nodes, 1);
      const conv = await store.createConversation(["u1"]);
      const done = send(y, conv.id, "m1");
      await waitFor("x to store the message", () => x.sequenced.length === 1);
      await x.broker.close(); // gives up the batch in hand after sendTimeoutMs: requeued to y
      release();
      const item = await done;
      expect(item.message.seq).toBe(1);
      expect(await store.lastSeq(conv.id)).toBe(1);
      expect(y.sequenced.map((m) => m.id)).toEqual(["m1"]);
      await waitFor("y to deliver it", () => y.delivered.length > 0);
      expect(y.delivered.map((d) => d.message.seq)).toEqual([1]);
      // Passed on as new: it may never have been fanned out, and hubs drop a seq they saw.
      expect(y.delivered[0].duplicate).toBe(false);
    });
  });
}

for (const queueType of ["quorum", "classic"] as const) {
  test(`a message that takes every owner of its ${queueType} shard down is dead-lettered after deliveryLimit redeliveries`, async () => {
    const namespace = testNamespace();
    const store = new MemoryMessageStore();
    const conv = await store.createConversation(["u1"]);
    const reports: PoisonReport[] = [];
    let hung = 0;
    const owner = () => {
      const n = testNode(AMQP_URL, store, { namespace, shards: 1, queueType, deliveryLimit: 2, sendTimeoutMs: 300 });
      n.handlers.countDelivery = (ref) => store.countDelivery(ref);
      n.handlers.deadLettered = (r) => reports.push(r);
      const sequence = n.handlers.sequence;
      // Stands for a crash: the owner never finishes this message, then its connection goes.
      n.handlers.sequence = (messages) => messages.some((m) => m.id === "killer") ? (hung++, new Promise(() => {})) : sequence(messages);
      teardown.push(() => n.broker.close());
      return n;
    };
    teardown.push(() => deleteNamespace(AMQP_URL, namespace, 1));
    let n = owner();
    await n.broker.start(n.handlers);
    const conn = await connect(AMQP_URL);
    const ch = await conn.createConfirmChannel();
    const killer = { origin: "gone", ref: "r-killer", message: { conv: conv.id, id: "killer", from: { user: "u1", device: "d" }, body: 1 } };
    ch.publish(names(namespace).ingress, "0", Buffer.from(JSON.stringify(killer)), { persistent: true, type: "send" });
    await ch.waitForConfirms();
    await conn.close();
    const letters = await connect(AMQP_URL);
    teardown.push(() => letters.close());
    const dead = await letters.createChannel();
    let letter: GetMessage | false = false;
    for (let incarnation = 1; !letter; incarnation++) {
      expect(incarnation).toBeLessThan(6);
      const deadline = Date.now() + 20_000;
      while (hung < incarnation && !(letter = await dead.get(names(namespace).deadLetter, { noAck: true }))) {
        if (Date.now() > deadline) throw new Error(`incarnation ${incarnation} neither took the killer nor dead-lettered it`);
        await new Promise((r) => setTimeout(r, 50));
      }
      if (letter) break;
      await n.broker.close();
      n = owner();
      await n.broker.start(n.handlers);
    }
    // Delivered once and redelivered deliveryLimit times; the next return sets it aside.
    expect(hung).toBe(3);
    expect(JSON.parse(letter.content.toString())).toEqual(killer);
    const death = (letter.properties.headers?.["x-death"] as { reason: string }[])[0];
    expect(death.reason).toBe(queueType === "quorum" ? "delivery_limit" : "rejected");
    // Quorum queues dead-letter it themselves; a classic queue's owner counts and reports.
    expect(reports).toMatchObject(queueType === "classic" ? [{ id: "killer", code: "unprocessable", shard: 0 }] : []);
    const sent = await send(n, conv.id, "after");
    expect(sent.message.seq).toBe(1);
  });
}

describe("RabbitMQ broker pipeline", () => {
  test("a store that fails for a moment while batches are in flight: every send stored once, in order, delivered once everywhere", async () => {
    const { nodes, store, start } = cluster(2, { shards: 1 });
    let calls = 0;
    for (const n of nodes) {
      n.handlers.sequence = async (messages) => {
        // Redis restarting under a pipelined shard: two store calls fail as "unavailable",
        // while earlier batches' fanout confirms are still in flight.
        if (++calls === 4 || calls === 7) throw duplexError("unavailable", "the store is restarting");
        n.sequenced.push(...messages);
        return store.append(messages);
      };
    }
    await start();
    await settled(nodes, 1);
    const convs = await Promise.all(range(3).map(() => store.createConversation(["u1"])));
    const issued: { node: number; conv: string; done: Promise<Sequenced> }[] = [];
    for (let burst = 0; burst < 20; burst++) {
      for (let k = 0; k < 10; k++) {
        const node = k % 2;
        const conv = convs[k % 3].id;
        issued.push({ node, conv, done: send(nodes[node], conv, `b${burst}-${k}`) });
      }
      await new Promise((r) => setTimeout(r, 3));
    }
    const results = await Promise.all(issued.map((x) => x.done));
    expect(calls).toBeGreaterThan(7);
    for (const c of convs) {
      const last = await store.lastSeq(c.id);
      expect((await store.range(c.id, 0, last + 1)).map((m) => m.seq)).toEqual(range(last));
      expect(last).toBe(issued.filter((x) => x.conv === c.id).length); // stored once each
      for (const node of [0, 1]) {
        const seqs = issued.flatMap((x, i) => (x.node === node && x.conv === c.id ? [results[i].message.seq] : []));
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    }
    await waitFor("both nodes to receive everything", () => nodes.every((n) => deliveredSeqs(n).size === 3 && convs.every((c) => deliveredSeqs(n).get(c.id)!.length === issued.filter((x) => x.conv === c.id).length)));
    for (const n of nodes) for (const c of convs) expect(deliveredSeqs(n).get(c.id)).toEqual(range(issued.filter((x) => x.conv === c.id).length));
  });

  /** Holds every store call until `count` are waiting, then (after `first`) lets them all finish in one turn. */
  function gateOf(count: number, first: () => Promise<void> = async () => {}) {
    const waiting: (() => void)[] = [];
    return () => new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === count) void first().then(() => { for (const go of waiting.splice(0)) go(); });
    });
  }

  /** Every `sequenced` broadcast of a namespace, as RabbitMQ carries it: each message's items. */
  async function fanoutSpy(namespace: string) {
    const conn = await connect(AMQP_URL);
    teardown.push(() => conn.close());
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue("", { exclusive: true });
    await ch.bindQueue(queue, names(namespace).fanout, "");
    const messages: Sequenced[][] = [];
    await ch.consume(queue, (m) => m && m.properties.type === "sequenced" && messages.push(JSON.parse(m.content.toString())), { noAck: true });
    return messages;
  }

  test("the batches of every shard a node finishes in one turn reach the nodes as one fanout message", async () => {
    const { nodes, namespace, store, start } = cluster(2);
    const gate = gateOf(8);
    // Who sequences, not who owns on paper: a standby may still be stepping back.
    const sequencers = new Set<string>();
    for (const n of nodes) {
      n.handlers.sequence = async (messages) => {
        sequencers.add(n.id);
        await gate();
        return store.append(messages);
      };
    }
    await start();
    await settled(nodes);
    const spy = await fanoutSpy(namespace);
    const convs = await conversationPerShard(store);
    // Each sequencing node's turn is joined: one message a node, not one a shard.
    await Promise.all([...convs.values()].map((conv, i) => send(nodes[i % 2], conv, `m${i}`)));
    await waitFor("both nodes and the spy to receive all 8", () => nodes.every((n) => n.delivered.length === 8) && spy.flat().length >= 8);
    expect(spy.flat().length).toBe(8);
    expect(spy.length).toBe(sequencers.size);
  });

  test("a fanout publish that carries several shards' batches and fails: each shard redoes its own, and nothing is lost, reordered or delivered twice", async () => {
    const { nodes, namespace, store, start } = cluster(1);
    const [n] = nodes;
    // The fanout exchange vanishes just before the turn's joined publish: RabbitMQ closes
    // the publishing channel (404) instead of confirming it, and the node rebuilds its link.
    const gate = gateOf(8, async () => {
      const conn = await connect(AMQP_URL);
      await (await conn.createChannel()).deleteExchange(names(namespace).fanout);
      await conn.close();
    });
    let calls = 0;
    n.handlers.sequence = async (messages) => {
      if (calls++ < 8) await gate(); // the first batch of each shard; their redeliveries pass
      return store.append(messages);
    };
    await start();
    const convs = [...(await conversationPerShard(store)).values()];
    const outcomes = await Promise.allSettled(convs.map((conv) => send(n, conv, "first")));
    // A send whose fanout was never confirmed is answered unavailable, never acked: its
    // client resends it under the same id, and the store recognises it.
    expect(outcomes.filter((o) => o.status === "rejected").length).toBeGreaterThan(0);
    for (const o of outcomes) if (o.status === "rejected") expect(o.reason).toMatchObject({ code: "unavailable" });
    await waitFor("the node to be ready again", () => n.broker.status().ready);
    const resent = await Promise.all(convs.map((conv) => send(n, conv, "first")));
    const after = await Promise.all(convs.map((conv) => send(n, conv, "second")));
    for (let i = 0; i < convs.length; i++) {
      expect(resent[i].message.seq).toBe(1);
      expect(after[i].message.seq).toBe(2);
      expect(await store.lastSeq(convs[i])).toBe(2);
    }
    await waitFor("every conversation's two messages on the node", () => convs.every((c) => deliveredSeqs(n).get(c)?.length === 2));
    for (const c of convs) {
      expect(deliveredSeqs(n).get(c)).toEqual([1, 2]);
      expect(n.delivered.filter((d) => d.message.conv === c && !d.duplicate).map((d) => d.message.seq)).toEqual([1, 2]);
    }
    // Every batch was settled: a waiter left hanging would leave its batch unacked, and
    // closing the node would put it back on its shard queue.
    await n.broker.close();
    const conn = await connect(AMQP_URL);
    try {
      const ch = await conn.createChannel();
      for (let shard = 0; shard < 8; shard++) expect((await ch.checkQueue(names(namespace).shard(shard))).messageCount).toBe(0);
    } finally {
      await conn.close();
    }
  });

  test("refuses a message the store rejects for good, and keeps its shard moving", async () => {
    const { nodes, store, start } = cluster(1, { shards: 1 });
    const [n] = nodes;
    n.handlers.sequence = async (messages) => {
      for (const m of messages) if (!(await store.conversation(m.conv))) throw duplexError("not_found", `no conversation ${m.conv}`);
      return store.append(messages);
    };
    await start();
    const conv = await store.createConversation(["u1"]);
    const [ok1, bad, ok2] = await Promise.allSettled([send(n, conv.id, "a"), send(n, "no-such-conv", "b"), send(n, conv.id, "c")]);
    expect(ok1.status).toBe("fulfilled");
    expect(ok2.status).toBe("fulfilled");
    expect(bad.status).toBe("rejected");
    expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: "not_found" });
    expect(await store.lastSeq(conv.id)).toBe(2);
  });

  test("rejects a send at once when no queue is bound for its shard", async () => {
    const { nodes, namespace, store, start } = cluster(1, { shards: 1, sendTimeoutMs: 30_000 });
    await start();
    const conn = await connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.unbindQueue(names(namespace).shard(0), names(namespace).ingress, "0");
    await conn.close();
    const conv = await store.createConversation(["u1"]);
    const t0 = performance.now();
    const err = await send(nodes[0], conv.id, "m").catch((e) => e);
    expect(err).toBeInstanceOf(DuplexError);
    expect(err.code).toBe("unavailable");
    expect(err.message).toContain("no queue is bound");
    expect(performance.now() - t0).toBeLessThan(30_000);
  });

  test("rejects a send that is not confirmed within sendTimeoutMs, and closes anyway", async () => {
    const { nodes, store, start } = cluster(1, { shards: 1, sendTimeoutMs: 500 });
    const [n] = nodes;
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    n.handlers.sequence = async (messages) => {
      await stuck;
      return store.append(messages);
    };
    await start();
    const conv = await store.createConversation(["u1"]);
    const err = await send(n, conv.id, "m").catch((e) => e);
    expect(err).toMatchObject({ code: "unavailable" });
    expect(err.message).toContain("sendTimeoutMs");
    await n.broker.close();
    release();
  });

  test("refuses submits before start, after close, and with a ref already waiting", async () => {
    const { nodes, store, start } = cluster(1, { sendTimeoutMs: 2000 });
    const [n] = nodes;
    const conv = await store.createConversation(["u1"]);
    await expect(send(n, conv.id, "early")).rejects.toMatchObject({ code: "unavailable" });
    await start();
    await expect(n.broker.start(n.handlers)).rejects.toMatchObject({ code: "bad_request" });
    const message = { conv: conv.id, id: "twice", from: { user: "u1", device: "d" }, body: 1 };
    const first = n.broker.submit({ origin: n.id, ref: "same-ref", message });
    await expect(n.broker.submit({ origin: n.id, ref: "same-ref", message })).rejects.toThrow(/already waiting/);
    await first;
    await n.broker.close();
    await expect(send(n, conv.id, "late")).rejects.toMatchObject({ code: "unavailable" });
    await expect(n.broker.publish({ type: "kick", node: "x", session: "s" })).rejects.toMatchObject({ code: "unavailable" });
    expect(n.broker.status()).toEqual({ ready: false, owned: [], shards: 8, reconnects: 0 });
  });
});
