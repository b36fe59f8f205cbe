/**
 * The hub in process, on the embedded stores and broker, through a fake socket seam: one
 * test per error code it answers, how a repeat is kept from a device, and close handling.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Broker, Sequenced } from "../../src/core/ports/broker.ts";
import { MemoryBroker } from "../../src/broker/memory.ts";
import { duplexError } from "../../src/core/errors.ts";
import { Hub } from "../../src/core/hub.ts";
import { createLogger, type Logger } from "../../src/core/log.ts";
import { type HubMetrics, NO_METRICS } from "../../src/core/metrics.ts";
import type { Publish, SocketEvents, SocketSeam } from "../../src/core/socket.ts";
import { memoryStores } from "../../src/store/memory.ts";
import type { Stores, StoredMessage } from "../../src/core/ports/store.ts";

const log = createLogger("error");

interface Device {
  events: SocketEvents;
  /** What the socket reports as queued (a reader that stopped reading reports a lot). */
  buffered: number;
  frames: Record<string, any>[];
  closes: [number, string][];
  of(type: string): Record<string, any>[];
}

let stores: Stores;
afterEach(() => stores?.close());

/**
 * Native topics as Bun has them: a socket's publish reaches every subscriber but itself,
 * and a socket that closes leaves its topics.
 */
function fakeTopics() {
  const topics = new Map<string, Set<SocketSeam>>();
  const publish: Publish = (topic, text, except) => {
    for (const seam of topics.get(topic) ?? []) if (seam !== except) seam.send(text);
  };
  const join = (seam: SocketSeam) => Object.assign(seam, {
    subscribe: (topic: string) => { if (!topics.has(topic)) topics.set(topic, new Set()); topics.get(topic)!.add(seam); },
    unsubscribe: (topic: string) => topics.get(topic)?.delete(seam),
  });
  return { publish, join };
}

const MAX_BUFFERED = 1 << 20;

function setup(options: { broker?: Broker; rate?: number; metrics?: HubMetrics; topics?: boolean; log?: Logger } = {}) {
  stores = memoryStores();
  const broker = options.broker ?? new MemoryBroker({ shards: 4 });
  const topics = options.topics ? fakeTopics() : null;
  const hub = new Hub({
    nodeId: "n1", heartbeatMs: 25_000, rate: options.rate ?? 100,
    maxBufferedBytes: MAX_BUFFERED, stores, broker, log: options.log ?? log, metrics: options.metrics, publish: topics?.publish,
  });
  const ready = broker.start({ sequence: (messages) => stores.messages.append(messages), ...hub.handlers() });
  const device = (user: string, name: string): Device => {
    const frames: Record<string, any>[] = [];
    const closes: [number, string][] = [];
    let open = true;
    const seam: SocketSeam = {
      send: (text) => { if (open) frames.push(JSON.parse(text)); return true; },
      close: (code, reason) => { open = false; closes.push([code, reason]); },
      ping: () => {},
      terminate: () => {},
      bufferedAmount: () => d.buffered,
    };
    const d: Device = { events: null!, buffered: 0, frames, closes, of: (type) => frames.filter((f) => f.type === type) };
    d.events = hub.open(topics ? topics.join(seam) : seam, { user, device: name });
    return d;
  };
  return { hub, stores, ready, device };
}

const settle = () => new Promise((r) => setTimeout(r, 5));
const frame = (d: Device, f: unknown) => d.events.text(JSON.stringify(f));
const seqs = (d: Device) => d.of("msg").map((m) => m.seq);

async function twoDevices(options: { topics?: boolean } = {}) {
  const s = setup(options);
  await s.ready;
  const conv = (await s.stores.messages.createConversation(["ann", "bo"])).id;
  return { ...s, conv, ann: s.device("ann", "phone"), bo: s.device("bo", "laptop") };
}

describe("the hub answers each error code on the socket", () => {
  test("bad_request: a frame that is not a valid client frame, echoing its id", async () => {
    const { ann } = await twoDevices();
    frame(ann, { type: "send", id: "m1", conv: "c" });
    await settle();
    expect(ann.of("error")).toMatchObject([{ code: "bad_request", id: "m1", message: expect.stringContaining("body") }]);
    ann.events.text("{not json");
    await settle();
    expect(ann.of("error")[1]).toMatchObject({ code: "bad_request" });
    expect(ann.closes).toEqual([]);
  });

  test("not_found: a send to a conversation that does not exist", async () => {
    const { ann } = await twoDevices();
    frame(ann, { type: "send", id: "m1", conv: "nope", body: "hi" });
    await settle();
    expect(ann.of("error")).toMatchObject([{ code: "not_found", id: "m1" }]);
  });

  test("forbidden: a send to a conversation the user is not a member of", async () => {
    const { device, conv } = await twoDevices();
    const cy = device("cy", "tab");
    frame(cy, { type: "sync", id: "s1", conv, after: 0 });
    await settle();
    expect(cy.of("error")).toMatchObject([{ code: "forbidden", id: "s1" }]);
    expect(cy.of("msg")).toEqual([]);
  });

  test("rate_limited: frames past the rate are refused, then a persistent flooder is closed 1008", async () => {
    const s = setup({ rate: 2 });
    await s.ready;
    const ann = s.device("ann", "phone");
    for (let i = 0; i < 40; i++) frame(ann, { type: "ping", ts: i });
    await settle();
    expect(ann.of("error").length).toBeGreaterThan(0);
    expect(ann.of("error").every((e) => e.code === "rate_limited")).toBe(true);
    expect(ann.closes).toEqual([[1008, "rate limit exceeded"]]);
  });

  test("unavailable: a send the broker cannot confirm is refused, never acked", async () => {
    const broker = new MemoryBroker({ shards: 4 });
    broker.submit = () => Promise.reject(duplexError("unavailable", "the broker is away"));
    const s = setup({ broker });
    await s.ready;
    const conv = (await s.stores.messages.createConversation(["ann"])).id;
    const ann = s.device("ann", "phone");
    frame(ann, { type: "send", id: "m1", conv, body: "hi" });
    await settle();
    expect(ann.of("error")).toMatchObject([{ code: "unavailable", id: "m1" }]);
    expect(ann.of("ack")).toEqual([]);
  });
});

for (const [how, topics] of [["written to each socket", false], ["published to a topic", true]] as const) {
  describe(`each seq reaches a device once (${how})`, () => {
    const stored = (conv: string, seq: number): StoredMessage =>
      ({ conv, seq, id: `m${seq}`, from: { user: "ann", device: "phone" }, body: seq, ts: 1 });
    const fanned = (m: StoredMessage, duplicate = false): Sequenced => ({ message: m, duplicate, origin: "n2", ref: "r" });

    test("a message replayed by sync is not sent again when its fan-out arrives afterwards", async () => {
      const { hub, stores, bo, conv } = await twoDevices({ topics });
      const [one, two] = (await stores.messages.append([1, 2].map((n) => ({ conv, id: `m${n}`, from: { user: "ann", device: "phone" }, body: n })))).map((a) => a.message);
      hub.handlers().deliver(fanned(one));
      await settle();
      frame(bo, { type: "sync", conv, after: 1 });
      await settle();
      hub.handlers().deliver(fanned(two));
      await settle();
      expect(seqs(bo)).toEqual([1, 2]);
      expect(bo.of("synced")).toMatchObject([{ conv, seq: 2 }]);
      // Past the replay, live messages flow again.
      const [three] = (await stores.messages.append([{ conv, id: "m3", from: { user: "ann", device: "phone" }, body: 3 }])).map((a) => a.message);
      hub.handlers().deliver(fanned(three));
      await settle();
      expect(seqs(bo)).toEqual([1, 2, 3]);
    });

    test("a sync asked for before live messages reach the client does not send them again", async () => {
      const { hub, stores, bo, conv } = await twoDevices({ topics });
      const msgs = (await stores.messages.append(Array.from({ length: 30 }, (_, i) => ({ conv, id: `m${i + 1}`, from: { user: "ann", device: "phone" }, body: i + 1 })))).map((a) => a.message);
      // The fan-out reaches this node only now, after the device connected: it goes out live.
      for (const m of msgs) hub.handlers().deliver(fanned(m));
      await settle();
      // The client, not having read those frames yet, asks for what came after 25.
      frame(bo, { type: "sync", conv, after: 25 });
      await settle();
      expect(seqs(bo)).toEqual(msgs.map((m) => m.seq));
      expect(bo.of("synced")).toMatchObject([{ conv, seq: 30 }]);
    });

    test("a replay still sends what came before the live stream reached the device", async () => {
      const { hub, stores, bo, conv } = await twoDevices({ topics });
      const msgs = (await stores.messages.append([1, 2, 3, 4].map((n) => ({ conv, id: `m${n}`, from: { user: "ann", device: "phone" }, body: n })))).map((a) => a.message);
      // The node follows the conversation from seq 3 on (its fan-out of 1 and 2 went to no local device).
      for (const m of msgs.slice(0, 2)) hub.handlers().deliver(fanned(m, true));
      for (const m of msgs.slice(2)) hub.handlers().deliver(fanned(m));
      await settle();
      frame(bo, { type: "sync", conv, after: 0 });
      await settle();
      expect(seqs(bo)).toEqual([3, 4, 1, 2]);
    });

    test("live messages arriving during a replay wait for it and follow it in order", async () => {
      const { hub, stores, bo, conv } = await twoDevices({ topics });
      const msgs = (await stores.messages.append([1, 2, 3].map((n) => ({ conv, id: `m${n}`, from: { user: "ann", device: "phone" }, body: n })))).map((a) => a.message);
      frame(bo, { type: "sync", conv, after: 0 });
      for (const m of msgs) hub.handlers().deliver(fanned(m));
      await settle();
      expect(seqs(bo)).toEqual([1, 2, 3]);
    });

    test("a repeat whose first fan-out was lost is delivered once where the node follows the conversation", async () => {
      const { hub, bo, conv } = await twoDevices({ topics });
      hub.handlers().deliver(fanned(stored(conv, 1)));
      await settle();
      hub.handlers().deliver(fanned(stored(conv, 2), true));
      hub.handlers().deliver(fanned(stored(conv, 2), true));
      hub.handlers().deliver(fanned(stored(conv, 1), true));
      await settle();
      expect(seqs(bo)).toEqual([1, 2]);
    });

    test("a repeat in a conversation the node has not followed is not delivered", async () => {
      const { hub, bo, conv } = await twoDevices({ topics });
      hub.handlers().deliver(fanned(stored(conv, 5), true));
      await settle();
      expect(seqs(bo)).toEqual([]);
    });

    test("a message never returns to the device that sent it, and reaches the others once", async () => {
      const { ann, bo, device, conv } = await twoDevices({ topics });
      const tablet = device("ann", "tablet");
      frame(ann, { type: "send", id: "x1", conv, body: "hi" });
      frame(ann, { type: "send", id: "x1", conv, body: "hi" });
      await settle();
      expect(ann.of("ack")).toMatchObject([{ id: "x1", seq: 1 }, { id: "x1", seq: 1 }]);
      expect(seqs(ann)).toEqual([]);
      expect(seqs(tablet)).toEqual([1]);
      expect(seqs(bo)).toEqual([1]);
    });

    test("a device that opens after a conversation's first message gets the next ones, and one past its replay gets each once", async () => {
      const { hub, stores, bo, device, conv } = await twoDevices({ topics });
      const append = async (n: number) => (await stores.messages.append([{ conv, id: `m${n}`, from: { user: "ann", device: "phone" }, body: n }]))[0].message;
      const [one, two] = [await append(1), await append(2)];
      hub.handlers().deliver(fanned(one));
      await settle();
      const desk = device("bo", "desk");
      const tab = device("bo", "tab");
      frame(tab, { type: "sync", conv, after: 0 });
      await settle();
      hub.handlers().deliver(fanned(two));
      await settle();
      hub.handlers().deliver(fanned(await append(3)));
      await settle();
      hub.handlers().deliver(fanned(await append(4)));
      await settle();
      expect(seqs(bo)).toEqual([1, 2, 3, 4]);
      expect(seqs(desk)).toEqual([2, 3, 4]);
      expect(seqs(tab)).toEqual([1, 2, 3, 4]);
    });

    test("a message that finds its conversation read already never overtakes one still waiting for the read", async () => {
      // Message 2 comes at every point from the read's answer to well after it.
      for (let yields = 0; yields <= 6; yields++) {
        const { hub, stores, bo, conv } = await twoDevices({ topics });
        const [one, two] = (await stores.messages.append([1, 2].map((n) => ({ conv, id: `m${n}`, from: { user: "ann", device: "phone" }, body: n })))).map((a) => a.message);
        // This node has not read the conversation yet: its read is held open.
        const read = stores.messages.conversation.bind(stores.messages);
        let answer!: () => void;
        const held = new Promise<void>((r) => { answer = r; });
        stores.messages.conversation = async (id) => { await held; return read(id); };
        hub.handlers().deliver(fanned(one));
        answer();
        for (let i = 0; i < yields; i++) await Promise.resolve();
        hub.handlers().deliver(fanned(two));
        await settle();
        expect(seqs(bo)).toEqual([1, 2]);
      }
    });

    test("a fan-out that throws is logged, and neither the broker nor the process sees it", async () => {
      const lines: string[] = [];
      const { hub, stores, ready, device } = setup({ topics, log: createLogger("error", {}, (line) => lines.push(line)) });
      await ready;
      const conv = (await stores.messages.createConversation(["ann", "bo"])).id;
      device("bo", "laptop");
      const [one, two] = (await stores.messages.append([1, 2].map((n) => ({ conv, id: `m${n}`, from: { user: "ann", device: "phone" }, body: n })))).map((a) => a.message);
      // A store answering with members that are not a list (a hand-edited key, say).
      stores.messages.conversation = async (id) => ({ id, members: 42 as unknown as string[] });
      // The first goes through the conversation's read, the second finds it read.
      expect(() => hub.handlers().deliver(fanned(one))).not.toThrow();
      await settle();
      expect(() => hub.handlers().deliver(fanned(two))).not.toThrow();
      await settle();
      expect(lines.filter((l) => l.includes("fan-out of a message failed"))).toHaveLength(2);
    });

    test("a reader over its send bound is closed 1013 rather than losing a fanned-out frame", async () => {
      const { hub, stores, bo, conv } = await twoDevices({ topics });
      const [one] = (await stores.messages.append([{ conv, id: "m1", from: { user: "ann", device: "phone" }, body: 1 }])).map((a) => a.message);
      bo.buffered = 9 * MAX_BUFFERED;
      hub.handlers().deliver(fanned(one));
      await settle();
      expect(bo.closes).toEqual([[1013, "too slow: reconnect and sync"]]);
    });
  });
}

test("every submit carries a ref of its own, across hubs that share a broker", async () => {
  const refs: string[] = [];
  const broker = new MemoryBroker({ shards: 4 });
  const submit = broker.submit.bind(broker);
  broker.submit = (request) => {
    refs.push(request.ref);
    return submit(request);
  };
  for (const node of [setup({ broker }), setup({ broker })]) {
    await node.ready;
    const conv = (await node.stores.messages.createConversation(["ann"])).id;
    const ann = node.device("ann", "phone");
    for (const id of ["m1", "m2", "m3"]) frame(ann, { type: "send", id, conv, body: id });
    await settle();
  }
  expect(refs).toHaveLength(6);
  expect(new Set(refs).size).toBe(6);
});

describe("closing", () => {
  test("a close reported twice (as Deno does) counts once and removes the session once", async () => {
    const closes: number[] = [];
    const s = setup({ metrics: { ...NO_METRICS, disconnected: (code) => closes.push(code) } });
    await s.ready;
    const ann = s.device("ann", "phone");
    await settle();
    expect(await s.stores.sessions.byUser("ann")).toHaveLength(1);
    ann.events.ended(1001, "");
    ann.events.ended(1005, "");
    await settle();
    expect(closes).toEqual([1001]);
    expect(s.hub.connections).toBe(0);
    expect(await s.stores.sessions.byUser("ann")).toEqual([]);
  });

  test("the same device opening again closes the older connection with 4409", async () => {
    const s = setup();
    await s.ready;
    const first = s.device("ann", "phone");
    await settle();
    const second = s.device("ann", "phone");
    await settle();
    expect(first.closes).toEqual([[4409, "replaced"]]);
    expect(second.closes).toEqual([]);
    expect((await s.stores.sessions.byUser("ann")).map((r) => r.session)).toEqual([second.of("welcome")[0].session]);
  });

  test("a device that connects again after its welcome replaces the first connection even when the first registers slowly", async () => {
    const s = setup();
    await s.ready;
    const sessions = s.stores.sessions;
    const register = sessions.register.bind(sessions);
    let calls = 0;
    // The first registration takes longer than the whole second connection (another node, a slow Redis reply).
    sessions.register = async (record, ttl) => {
      if (calls++ === 0) await new Promise((r) => setTimeout(r, 50));
      return register(record, ttl);
    };
    const first = s.device("ann", "phone");
    frame(first, { type: "ping", ts: 7 });
    while (first.of("welcome").length === 0) await settle();
    const second = s.device("ann", "phone");
    while (second.of("welcome").length === 0) await settle();
    await new Promise((r) => setTimeout(r, 80));
    expect(first.closes).toEqual([[4409, "replaced"]]);
    expect(second.closes).toEqual([]);
    expect(first.frames.map((f) => f.type)).toEqual(["welcome", "pong"]);
    expect((await sessions.byUser("ann")).map((r) => r.session)).toEqual([second.of("welcome")[0].session]);
  });
});

describe("hostile bodies", () => {
  /** A body nested far past what JSON.stringify can take on any runtime's stack. */
  const tooDeep = () => {
    let body: unknown = 0;
    for (let i = 0; i < 200_000; i++) body = [body];
    return body;
  };
  const counting = () => {
    const counts = { unencodable: 0, deadLettered: 0 };
    const metrics: HubMetrics = { ...NO_METRICS, unencodable: () => counts.unencodable++, deadLettered: () => counts.deadLettered++ };
    return { counts, metrics };
  };

  test("bad_request: a send whose body nests past the limit is refused naming body, and the socket stays usable", async () => {
    const { ann, bo, conv } = await twoDevices();
    ann.events.text(`{"type":"send","id":"deep","conv":"${conv}","body":${"[".repeat(1000)}${"]".repeat(1000)}}`);
    await settle();
    expect(ann.of("error")).toMatchObject([{ code: "bad_request", id: "deep", message: expect.stringContaining('field "body"') }]);
    frame(ann, { type: "send", id: "fine", conv, body: { nested: [[1]] } });
    await settle();
    expect(ann.of("ack")).toMatchObject([{ id: "fine", seq: 1 }]);
    expect(seqs(bo)).toEqual([1]);
    expect([...ann.closes, ...bo.closes]).toEqual([]);
  });

  test("a stored message too deep to encode is skipped by sync, logged and counted, and the replay goes on", async () => {
    const { counts, metrics } = counting();
    const s = setup({ metrics });
    await s.ready;
    const conv = (await s.stores.messages.createConversation(["ann", "bo"])).id;
    const from = { user: "ann", device: "phone" };
    // Written straight into the store, as a node without the depth limit did.
    await s.stores.messages.append([{ conv, id: "a", from, body: 1 }, { conv, id: "deep", from, body: tooDeep() }, { conv, id: "c", from, body: 3 }]);
    const bo = s.device("bo", "laptop");
    frame(bo, { type: "sync", conv, after: 0 });
    await settle();
    expect(seqs(bo)).toEqual([1, 3]);
    expect(bo.of("synced")).toMatchObject([{ conv, seq: 3 }]);
    expect(bo.of("error")).toEqual([]);
    expect(counts.unencodable).toBe(1);
  });

  test("a fanned-out message too deep to encode is skipped, counted once, and the messages after it are delivered", async () => {
    const { counts, metrics } = counting();
    const s = setup({ metrics });
    await s.ready;
    const conv = (await s.stores.messages.createConversation(["ann", "bo"])).id;
    const [bo, tablet] = [s.device("bo", "laptop"), s.device("bo", "tablet")];
    const from = { user: "ann", device: "phone" };
    const appended = await s.stores.messages.append([{ conv, id: "a", from, body: 1 }, { conv, id: "deep", from, body: tooDeep() }, { conv, id: "c", from, body: 3 }]);
    for (const a of appended) s.hub.handlers().deliver({ ...a, origin: "n2", ref: a.message.id });
    await settle();
    expect(seqs(bo)).toEqual([1, 3]);
    expect(seqs(tablet)).toEqual([1, 3]);
    expect(counts.unencodable).toBe(1);
    expect([...bo.closes, ...tablet.closes]).toEqual([]);
  });

  test("a poison message the broker refuses is answered with its error and counted as dead-lettered", async () => {
    const { counts, metrics } = counting();
    const broker = new MemoryBroker({ shards: 1 });
    const s = setup({ broker, metrics });
    const handlers = s.hub.handlers();
    // A store that cannot take one message, for a reason that will not pass.
    await broker.start({
      ...handlers,
      sequence: async (messages) => {
        if (messages.some((m) => m.id === "poison")) throw new RangeError("Maximum call stack size exceeded");
        return s.stores.messages.append(messages);
      },
    });
    const conv = (await s.stores.messages.createConversation(["ann", "bo"])).id;
    const ann = s.device("ann", "phone");
    frame(ann, { type: "send", id: "poison", conv, body: 1 });
    frame(ann, { type: "send", id: "next", conv, body: 2 });
    await settle();
    expect(ann.of("error")).toMatchObject([{ code: "unprocessable", id: "poison", message: expect.stringContaining("Maximum call stack") }]);
    expect(ann.of("ack")).toMatchObject([{ id: "next", seq: 1 }]);
    expect(counts.deadLettered).toBe(1);
  });
});
