/**
 * The behavioural contract of Broker (src/core/ports/broker.ts), run against every
 * implementation:
 *
 *   brokerSuite(name, make)
 *   make(instances: number) => Promise<{ brokers: Broker[]; close(): Promise<void> }>
 *
 * `make` returns up to `instances` brokers, not started, that act as the nodes of one
 * cluster (same namespace, distinct node ids, one shared backing; an in-process broker
 * returns a single one), and `close()` closes them and removes whatever they created.
 * The suite starts them with handlers of its own, which sequence into one in-memory
 * MessageStore shared by all instances and record what each instance delivers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Broker, BrokerHandlers, ControlEvent, PoisonReport, SendRequest, Sequenced } from "../../src/core/ports/broker.ts";
import { duplexError } from "../../src/core/errors.ts";
import { MemoryMessageStore } from "../../src/store/memory.ts";

export interface BrokerFixture {
  brokers: Broker[];
  close(): Promise<void>;
}

/** One started instance and what the broker called its handlers with. */
interface Node {
  broker: Broker;
  delivered: Sequenced[];
  controls: ControlEvent[];
  deadLettered: PoisonReport[];
}

const WAIT_MS = 10_000;

async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let refs = 0;
const request = (conv: string, id: string, user = "alice"): SendRequest =>
  ({ origin: "suite", ref: `r${++refs}`, message: { conv, id, from: { user, device: "phone" }, body: { id } } });

export function brokerSuite(name: string, make: (instances: number) => Promise<BrokerFixture>): void {
  describe(`${name} broker`, () => {
    let fixture: BrokerFixture | undefined;
    let store: MemoryMessageStore;
    /** Resolves the gate that `sequence` waits behind, when a test closes one. */
    let gate: Promise<void> | null = null;
    /** How long each `sequence` call takes, so that overlapping calls can be seen. */
    let work = 0;
    /** Fails a `sequence` call holding a message with this body: the store cannot take it, ever. */
    const POISON = "poison";
    /** How many more `sequence` calls fail as if the store were away. */
    let away = 0;
    /** Batches being sequenced now, per conversation and in all; the highest counts seen. */
    const busy = { perConv: new Map<string, number>(), all: 0, maxPerConv: 0, maxAll: 0 };

    /** Starts up to `instances` brokers of a fresh fixture. */
    async function cluster(instances: number): Promise<Node[]> {
      fixture = await make(instances);
      store = new MemoryMessageStore();
      const nodes = fixture.brokers.map((broker): Node => ({ broker, delivered: [], controls: [], deadLettered: [] }));
      for (const node of nodes) {
        const handlers: BrokerHandlers = {
          sequence: async (messages) => {
            const convs = [...new Set(messages.map((m) => m.conv))];
            for (const c of convs) busy.perConv.set(c, (busy.perConv.get(c) ?? 0) + 1);
            busy.maxPerConv = Math.max(busy.maxPerConv, ...convs.map((c) => busy.perConv.get(c)!));
            busy.maxAll = Math.max(busy.maxAll, ++busy.all);
            try {
              await gate;
              if (work > 0) await new Promise((r) => setTimeout(r, work));
              if (away > 0) {
                away--;
                throw duplexError("unavailable", "the store is away");
              }
              // What JSON.stringify throws for a body nested past the stack: no retry can help.
              if (messages.some((m) => m.body === POISON)) throw new RangeError("Maximum call stack size exceeded");
              return await store.append(messages);
            } finally {
              busy.all--;
              for (const c of convs) busy.perConv.set(c, busy.perConv.get(c)! - 1);
            }
          },
          deliver: (item) => node.delivered.push(item),
          control: (event) => node.controls.push(event),
          deadLettered: (report) => node.deadLettered.push(report),
        };
        await node.broker.start(handlers);
      }
      return nodes;
    }

    afterEach(async () => {
      gate = null;
      work = 0;
      away = 0;
      Object.assign(busy, { perConv: new Map(), all: 0, maxPerConv: 0, maxAll: 0 });
      await fixture?.close();
      fixture = undefined;
    });

    test("submit before start rejects unavailable", async () => {
      fixture = await make(1);
      await expect(fixture.brokers[0].submit(request("c", "x"))).rejects.toMatchObject({ code: "unavailable" });
    });

    test("submits from every instance resolve with seq 1..n per conversation, origin and ref kept", async () => {
      const nodes = await cluster(3);
      const convs = [(await store.createConversation(["alice"])).id, (await store.createConversation(["alice"])).id];
      const requests = Array.from({ length: 30 }, (_, i) => request(convs[i % 2], `m${i}`));
      const results = await Promise.all(requests.map((r, i) => nodes[i % nodes.length].broker.submit(r)));
      results.forEach((s, i) => {
        expect(s).toMatchObject({ origin: "suite", ref: requests[i].ref, duplicate: false, message: { id: requests[i].message.id } });
      });
      for (const conv of convs) {
        const seqs = results.filter((s) => s.message.conv === conv).map((s) => s.message.seq).sort((a, b) => a - b);
        expect(seqs).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      }
    });

    test("every instance delivers every item, one instance's submissions in seq order per conversation", async () => {
      const nodes = await cluster(3);
      const convs = [(await store.createConversation(["alice"])).id, (await store.createConversation(["alice"])).id];
      const n = 40;
      await Promise.all(Array.from({ length: n }, (_, i) => nodes[0].broker.submit(request(convs[i % 2], `m${i}`))));
      for (const node of nodes) {
        await until(`every instance delivered ${n} items`, () => node.delivered.length >= n);
        for (const conv of convs) {
          const seqs = node.delivered.filter((s) => s.message.conv === conv).map((s) => s.message.seq);
          expect(seqs).toEqual(Array.from({ length: n / 2 }, (_, i) => i + 1));
        }
      }
    });

    test("one conversation is sequenced one batch at a time, while several conversations proceed at once", async () => {
      const nodes = await cluster(3);
      work = 15;
      // Enough conversations that they hash to several shards, whatever the shard count.
      const convs = await Promise.all(Array.from({ length: 12 }, async () => (await store.createConversation(["alice"])).id));
      const results = await Promise.all(Array.from({ length: 72 }, (_, i) => nodes[i % nodes.length].broker.submit(request(convs[i % 12], `m${i}`))));
      expect(results.every((r) => !r.duplicate)).toBe(true);
      expect(busy.maxPerConv).toBe(1);
      expect(busy.maxAll).toBeGreaterThan(1);
    });

    test("a resend of the same user and id resolves with the original seq, marked duplicate", async () => {
      const nodes = await cluster(2);
      const { id: conv } = await store.createConversation(["alice"]);
      const first = await nodes[0].broker.submit(request(conv, "once"));
      await nodes[0].broker.submit(request(conv, "other"));
      const again = await nodes[nodes.length - 1].broker.submit(request(conv, "once"));
      expect(again.duplicate).toBe(true);
      expect(again.message).toEqual(first.message);
      expect(await store.lastSeq(conv)).toBe(2);
    });

    test("a poison message is refused to its sender as unprocessable and reported once, and its shard goes on", async () => {
      const nodes = await cluster(2);
      const { id: conv } = await store.createConversation(["alice"]);
      const bad = request(conv, "bad");
      const poison = { ...bad, message: { ...bad.message, body: POISON } };
      // Behind the poison message in its shard, submitted before it is dealt with.
      const outcomes = await Promise.allSettled([
        nodes[0].broker.submit(request(conv, "before")),
        nodes[0].broker.submit(poison),
        nodes[nodes.length - 1].broker.submit(request(conv, "after")),
      ]);
      expect(outcomes[1]).toMatchObject({ status: "rejected", reason: { code: "unprocessable", message: expect.stringContaining("Maximum call stack") } });
      const stored = [outcomes[0], outcomes[2]].map((o) => (o.status === "fulfilled" ? o.value.message.seq : o.reason));
      expect(stored.sort()).toEqual([1, 2]);
      const later = await nodes[0].broker.submit(request(conv, "later"));
      expect(later.message.seq).toBe(3);
      const reports = nodes.flatMap((n) => n.deadLettered);
      expect(reports).toEqual([expect.objectContaining({ conv, id: "bad", user: "alice", code: "unprocessable" })]);
      expect(await store.lastSeq(conv)).toBe(3);
    });

    test("a transient failure is never dead-lettered: the send is stored once or answered unavailable", async () => {
      const [node] = await cluster(1);
      const { id: conv } = await store.createConversation(["alice"]);
      away = 2;
      const first = request(conv, "m1");
      const outcome = await node.broker.submit(first).then((s) => s.message.seq, (err) => err.code);
      expect([1, "unavailable"]).toContain(outcome);
      // The client resends with the same id until it is acked: stored once either way.
      const again = await node.broker.submit({ ...first, ref: `${first.ref}-again` }).catch(() => node.broker.submit({ ...first, ref: `${first.ref}-3` }));
      expect(again.message.seq).toBe(1);
      expect(node.deadLettered).toEqual([]);
      expect(await store.lastSeq(conv)).toBe(1);
    });

    test("control events reach every instance, the sender included", async () => {
      const nodes = await cluster(3);
      const kick: ControlEvent = { type: "kick", node: "node-x", session: "s1" };
      const read: ControlEvent = { type: "read", conv: "c1", user: "alice", device: "phone", seq: 4 };
      await nodes[0].broker.publish(kick);
      await nodes[nodes.length - 1].broker.publish(read);
      for (const node of nodes) {
        await until("every instance heard both events", () => node.controls.length >= 2);
        expect(node.controls).toContainEqual(kick);
        expect(node.controls).toContainEqual(read);
      }
    });

    test("close rejects pending submits with unavailable, and later ones too", async () => {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const [node] = await cluster(1);
      const { id: conv } = await store.createConversation(["alice"]);
      const outcome = (p: Promise<Sequenced>) => p.then(() => "stored", (err) => err?.code ?? String(err));
      const first = outcome(node.broker.submit(request(conv, "a")));
      await new Promise((r) => setTimeout(r, 100));
      const waiting = [outcome(node.broker.submit(request(conv, "b"))), outcome(node.broker.submit(request(conv, "c")))];
      await node.broker.close();
      open();
      expect(await Promise.all(waiting)).toEqual(["unavailable", "unavailable"]);
      expect(["stored", "unavailable"]).toContain(await first);
      expect(await outcome(node.broker.submit(request(conv, "d")))).toBe("unavailable");
    });
  });
}
