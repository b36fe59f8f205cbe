import { afterEach, describe, expect, test } from "bun:test";
import { type Ack, webStorage } from "../../src/client/index.ts";
import { settle } from "./fakes.ts";
import { open, reopen, type Setup, setup, unawaited } from "./setup.ts";

let s: Setup;
afterEach(() => s?.client.close());

const seqs = (x: Setup, conv?: string) => x.seen.msg.filter((m) => conv === undefined || m.conv === conv).map((m) => m.seq);

describe("sending", () => {
  test("send resolves with the ack's seq and leaves the outbox", async () => {
    s = setup();
    const socket = await open(s);
    const sent = s.client.send("c1", { text: "hi" });
    const [frame] = socket.of("send");
    expect(frame).toMatchObject({ type: "send", conv: "c1", body: { text: "hi" } });
    expect(s.client.pending).toBe(1);
    socket.push({ type: "ack", id: frame.id, conv: "c1", seq: 7 });
    expect(await sent).toEqual({ id: frame.id as string, conv: "c1", seq: 7 });
    expect(s.client.pending).toBe(0);
  });

  test("sends made while disconnected go out after the welcome", async () => {
    s = setup();
    s.client.connect();
    const sent = s.client.send("c1", "early");
    await settle();
    s.net.last().welcome();
    const [frame] = s.net.last().of("send");
    s.net.last().push({ type: "ack", id: frame.id, conv: "c1", seq: 1 });
    expect((await sent).seq).toBe(1);
  });

  test("an unacked send is resent with the same id after a reconnect, once acked never again", async () => {
    s = setup();
    const first = await open(s);
    const a = s.client.send("c1", "a");
    const b = s.client.send("c1", "b");
    const [fa, fb] = first.of("send");
    first.push({ type: "ack", id: fa.id, conv: "c1", seq: 1 });
    first.drop(1006);
    await settle();
    const second = await reopen(s);
    expect(second.of("send")).toEqual([fb]);
    second.push({ type: "ack", id: fb.id, conv: "c1", seq: 2 });
    expect([(await a).seq, (await b).seq]).toEqual([1, 2]);
    second.drop(1006);
    await settle();
    const third = await reopen(s);
    expect(third.of("send")).toEqual([]);
  });

  test("a repeated ack resolves once and is announced once", async () => {
    s = setup();
    const socket = await open(s);
    const sent = s.client.send("c1", "x");
    const [frame] = socket.of("send");
    socket.push({ type: "ack", id: frame.id, conv: "c1", seq: 3 });
    socket.push({ type: "ack", id: frame.id, conv: "c1", seq: 3 });
    expect((await sent).seq).toBe(3);
    expect(s.seen.ack).toEqual([{ id: frame.id as string, conv: "c1", seq: 3 }]);
    expect(s.seen.error).toEqual([]);
  });

  test("an error naming the send's id rejects it for good", async () => {
    s = setup();
    const socket = await open(s);
    const sent = s.client.send("c1", "x");
    const [frame] = socket.of("send");
    socket.push({ type: "error", code: "forbidden", message: "you are not a member of c1", id: frame.id });
    await expect(sent).rejects.toMatchObject({ code: "forbidden", message: "you are not a member of c1" });
    expect(s.client.pending).toBe(0);
  });

  test("unavailable keeps the send and retries it with the same id after a backoff pause", async () => {
    s = setup();
    const socket = await open(s);
    const sent = s.client.send("c1", "x");
    const [frame] = socket.of("send");
    socket.push({ type: "error", code: "unavailable", message: "store down", id: frame.id });
    const later = s.client.send("c1", "y");
    expect(socket.of("send").length).toBe(1); // paused: nothing goes out
    s.clock.advance(49);
    expect(socket.of("send").length).toBe(1);
    s.clock.advance(1);
    const resent = socket.of("send");
    expect(resent.map((f) => f.id)).toEqual([frame.id, frame.id, resent[2].id]);
    socket.push({ type: "ack", id: frame.id, conv: "c1", seq: 1 });
    socket.push({ type: "ack", id: resent[2].id, conv: "c1", seq: 2 });
    expect([(await sent).seq, (await later).seq]).toEqual([1, 2]);
  });

  test("the outbox is bounded: send beyond maxOutbox is refused until acks arrive", async () => {
    s = setup({ maxOutbox: 2 });
    const socket = await open(s);
    unawaited(s.client.send("c1", 1));
    unawaited(s.client.send("c1", 2));
    await expect(s.client.send("c1", 3)).rejects.toMatchObject({ code: "rate_limited", message: expect.stringContaining("maxOutbox (2)") });
    socket.push({ type: "ack", id: socket.of("send")[0].id, conv: "c1", seq: 1 });
    unawaited(s.client.send("c1", 3));
    expect(socket.of("send").length).toBe(3);
  });

  test("at most maxInFlight sends are on the wire without an answer", async () => {
    s = setup({ maxInFlight: 2 });
    const socket = await open(s);
    for (let i = 0; i < 5; i++) unawaited(s.client.send("c1", i));
    expect(socket.of("send").map((f) => f.body)).toEqual([0, 1]);
    socket.push({ type: "ack", id: socket.of("send")[0].id, conv: "c1", seq: 1 });
    expect(socket.of("send").map((f) => f.body)).toEqual([0, 1, 2]);
  });

  test("the sent body is a copy: mutating the caller's object does not change a resend", async () => {
    s = setup();
    const first = await open(s);
    const body = { text: "before" };
    unawaited(s.client.send("c1", body));
    body.text = "after";
    first.drop(1006);
    await settle();
    const second = await reopen(s);
    expect(second.of("send")[0].body).toEqual({ text: "before" });
  });

  const bad: [string, () => Promise<Ack>, string, string][] = [
    ["an empty conv", () => s.client.send("", 1), "bad_request", "conv"],
    ["a conv over 128 characters", () => s.client.send("c".repeat(129), 1), "bad_request", "conv"],
    ["an undefined body", () => s.client.send("c1", undefined), "bad_request", "body"],
    ["a function body", () => s.client.send("c1", () => 1), "bad_request", "body"],
    ["a cyclic body", () => { const o: Record<string, unknown> = {}; o.o = o; return s.client.send("c1", o); }, "bad_request", "body"],
    ["a body over maxMessageBytes", () => s.client.send("c1", "é".repeat(600)), "too_large", "maxMessageBytes (1000)"],
  ];
  for (const [what, call, code, named] of bad) {
    test(`send refuses ${what} at once, naming ${named}`, async () => {
      s = setup({ maxMessageBytes: 1000 });
      const socket = await open(s);
      await expect(call()).rejects.toMatchObject({ code, message: expect.stringContaining(named) });
      expect(socket.of("send")).toEqual([]);
      expect(s.client.pending).toBe(0);
    });
  }

  test("send before connect() is refused", async () => {
    s = setup();
    await expect(s.client.send("c1", 1)).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining("connect()") });
  });
});

describe("the outbox storage", () => {
  function memoryArea() {
    const data = new Map<string, string>();
    return { data, getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v) };
  }

  test("a new client resends what an old one left unacked, and announces the ack", async () => {
    const area = memoryArea();
    s = setup({ outbox: webStorage(area) });
    await open(s);
    unawaited(s.client.send("c1", "survives"));
    const id = s.net.last().of("send")[0].id;
    expect(JSON.parse(area.data.get("duplex.outbox")!)).toMatchObject([{ id, conv: "c1", body: "survives" }]);
    s.client.close();

    s = setup({ outbox: webStorage(area) });
    const socket = await open(s);
    expect(socket.of("send")).toEqual([{ type: "send", id, conv: "c1", body: "survives" }]);
    socket.push({ type: "ack", id, conv: "c1", seq: 4 });
    expect(s.seen.ack).toEqual([{ id: id as string, conv: "c1", seq: 4 }]);
    expect(JSON.parse(area.data.get("duplex.outbox")!)).toEqual([]);
  });

  test("a refused restored send is reported as an error event", async () => {
    const area = memoryArea();
    area.setItem("duplex.outbox", JSON.stringify([{ id: "m1", conv: "c9", body: 1, at: 0 }, { junk: true }]));
    s = setup({ outbox: webStorage(area) });
    const socket = await open(s);
    expect(socket.of("send").map((f) => f.id)).toEqual(["m1"]);
    socket.push({ type: "error", code: "not_found", message: "no conversation c9", id: "m1" });
    expect(s.seen.error.map((e) => e.code)).toEqual(["not_found"]);
  });

  test("a storage that fails to load is reported and the client still connects", async () => {
    s = setup({ outbox: { load: () => { throw new Error("quota"); }, save: () => {} } });
    await open(s);
    expect(s.seen.error[0].message).toContain("quota");
    expect(s.client.state).toBe("open");
  });
});

describe("receiving", () => {
  test("emits a conversation in order and drops duplicates", async () => {
    s = setup();
    const socket = await open(s);
    for (const seq of [1, 2, 2, 3, 1]) socket.msg("c1", seq);
    expect(seqs(s)).toEqual([1, 2, 3]);
    expect(socket.of("sync")).toEqual([]);
  });

  test("a gap is filled with sync before later messages are emitted", async () => {
    s = setup();
    const socket = await open(s);
    socket.msg("c1", 1);
    socket.msg("c1", 2);
    socket.msg("c1", 5);
    expect(seqs(s)).toEqual([1, 2]);
    const [sync] = socket.of("sync");
    expect(sync).toMatchObject({ conv: "c1", after: 2 });
    socket.msg("c1", 6); // live, still waiting behind the hole
    socket.msg("c1", 3);
    socket.msg("c1", 4);
    socket.msg("c1", 5);
    socket.push({ type: "synced", conv: "c1", seq: 6 });
    socket.msg("c1", 7);
    expect(seqs(s)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(socket.of("sync").length).toBe(1);
  });

  test("conversations are independent: a hole in one does not hold back another", async () => {
    s = setup();
    const socket = await open(s);
    socket.msg("c1", 1);
    socket.msg("c1", 3);
    socket.msg("c2", 1);
    expect(s.seen.msg.map((m) => `${m.conv}:${m.seq}`)).toEqual(["c1:1", "c2:1"]);
  });

  test("after a reconnect every known conversation is synced after its last seq", async () => {
    s = setup();
    const first = await open(s);
    first.msg("c1", 1);
    first.msg("c1", 2);
    first.msg("c2", 1);
    s.client.track("c3", 40);
    first.drop(1006);
    await settle();
    const second = await reopen(s);
    expect(second.of("sync").map((f) => [f.conv, f.after])).toEqual([["c1", 2], ["c2", 1], ["c3", 40]]);
    second.msg("c1", 3);
    second.push({ type: "synced", conv: "c1", seq: 3 });
    expect(seqs(s, "c1")).toEqual([1, 2, 3]);
  });

  test("a conversation first met in a frame is replayed from its start", async () => {
    s = setup();
    const socket = await open(s);
    socket.msg("new", 4);
    expect(socket.of("sync")).toMatchObject([{ conv: "new", after: 0 }]);
    for (const seq of [1, 2, 3, 4]) socket.msg("new", seq);
    expect(seqs(s, "new")).toEqual([1, 2, 3, 4]);
  });

  test("our own acked messages take their seq without being emitted", async () => {
    s = setup();
    const socket = await open(s);
    socket.msg("c1", 1);
    unawaited(s.client.send("c1", "mine"));
    socket.push({ type: "ack", id: socket.of("send")[0].id, conv: "c1", seq: 2 });
    socket.msg("c1", 3);
    expect(seqs(s)).toEqual([1, 3]);
    expect(socket.of("sync")).toEqual([]);
  });

  test("our own send replayed before its ack counts as its ack", async () => {
    s = setup();
    const socket = await open(s);
    socket.msg("c1", 1);
    const sent = s.client.send("c1", "mine");
    const id = socket.of("send")[0].id;
    socket.msg("c1", 3); // hole at 2: sync
    socket.msg("c1", 2, { id, from: { user: "u1", device: "phone" } });
    expect((await sent).seq).toBe(2);
    expect(seqs(s)).toEqual([1, 3]);
  });

  test("a hole below an ack waits gapGraceMs for the message on its way, then syncs", async () => {
    s = setup({ gapGraceMs: 500 });
    const socket = await open(s);
    socket.msg("c1", 1);
    unawaited(s.client.send("c1", "mine"));
    socket.push({ type: "ack", id: socket.of("send")[0].id, conv: "c1", seq: 3 });
    s.clock.advance(499);
    expect(socket.of("sync")).toEqual([]);
    s.clock.advance(1);
    expect(socket.of("sync")).toMatchObject([{ conv: "c1", after: 1 }]);
    socket.msg("c1", 2);
    socket.push({ type: "synced", conv: "c1", seq: 3 });
    expect(seqs(s)).toEqual([1, 2]);
  });

  test("a hole the node no longer stores is reported after two syncs without progress, then skipped", async () => {
    s = setup({ gapGraceMs: 500 });
    const socket = await open(s);
    socket.msg("c1", 1);
    socket.msg("c1", 9); // 2..8 were trimmed from the history
    for (let round = 1; round <= 2; round++) {
      expect(socket.of("sync").length).toBe(round);
      socket.msg("c1", 9);
      socket.push({ type: "synced", conv: "c1", seq: 9 });
      s.clock.advance(500);
    }
    expect(seqs(s)).toEqual([1, 9]);
    expect(s.seen.error.map((e) => e.message)).toEqual([expect.stringContaining("messages 2 to 8 are no longer stored")]);
  });

  test("a sync refused as unavailable is tried again; a forbidden one is reported and the conversation dropped", async () => {
    s = setup({ gapGraceMs: 500 });
    const socket = await open(s);
    s.client.track("c1", 0);
    s.client.track("c2", 0);
    const [one, two] = socket.of("sync");
    socket.push({ type: "error", code: "unavailable", message: "store down", id: one.id });
    socket.push({ type: "error", code: "forbidden", message: "not a member of c2", id: two.id });
    s.clock.advance(500);
    expect(socket.of("sync").map((f) => f.conv)).toEqual(["c1", "c2", "c1"]);
    expect(s.client.conversations()).toEqual(["c1"]);
    expect(s.seen.error.map((e) => e.code)).toEqual(["forbidden"]);
  });

  test("at most 8 syncs run at once; the rest follow as replays end", async () => {
    s = setup();
    const first = await open(s);
    for (let i = 0; i < 10; i++) first.msg(`c${i}`, 1);
    first.drop(1006);
    await settle();
    const second = await reopen(s);
    expect(second.of("sync").length).toBe(8);
    second.push({ type: "synced", conv: "c0", seq: 1 });
    expect(second.of("sync").map((f) => f.conv)).toContain("c8");
    expect(second.of("sync").length).toBe(9);
  });

  test("read marks: other devices' arrive as events, ours go out (queued while offline, highest only)", async () => {
    s = setup();
    s.client.connect();
    s.client.markRead("c1", 3);
    s.client.markRead("c1", 5);
    s.client.markRead("c1", 4);
    await settle();
    const socket = s.net.last();
    socket.welcome();
    expect(socket.of("read")).toEqual([{ type: "read", conv: "c1", seq: 5 }]);
    socket.push({ type: "read", conv: "c1", seq: 9, user: "u1", device: "laptop" });
    expect(s.seen.read).toEqual([{ conv: "c1", seq: 9, user: "u1", device: "laptop" }]);
    expect(() => s.client.markRead("c1", -1)).toThrow("seq");
    expect(() => s.client.markRead("", 1)).toThrow("conv");
  });

  test("an error frame that answers nothing of ours is an error event", async () => {
    s = setup();
    const socket = await open(s);
    socket.push({ type: "error", code: "bad_request", message: "unknown frame type" });
    expect(s.seen.error.map((e) => [e.code, e.message])).toEqual([["bad_request", "unknown frame type"]]);
  });
});
