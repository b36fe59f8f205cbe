/**
 * The behavioural contract of MessageStore (src/core/ports/store.ts), run against every
 * implementation: `messageStoreSuite(name, make)` where `make(historyLimit)` returns two
 * handles on one fresh backing store (the same object twice for an in-process store; two
 * connections for Redis), so concurrent writers are real where they can be.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Conversation, MessageStore, NewMessage } from "../../src/core/ports/store.ts";

export interface MessageFixture {
  stores: [MessageStore, MessageStore];
  close(): Promise<void>;
}

const msg = (conv: string, id: string, user = "alice", body: unknown = { text: id }): NewMessage =>
  ({ conv, id, from: { user, device: "phone" }, body });

export function messageStoreSuite(name: string, make: (historyLimit: number) => Promise<MessageFixture>): void {
  describe(`${name} message store`, () => {
    let fixture: MessageFixture | undefined;
    const open = async (historyLimit = 1000) => {
      fixture = await make(historyLimit);
      return fixture.stores;
    };
    afterEach(async () => {
      await fixture?.close();
      fixture = undefined;
    });

    test("a conversation is created with deduplicated members and read back; an unknown id is null", async () => {
      const [store] = await open();
      const conv = await store.createConversation(["alice", "bob", "alice"]);
      expect(conv.members.sort()).toEqual(["alice", "bob"]);
      expect(await store.conversation(conv.id)).toEqual(conv);
      expect(await store.conversation("no-such-conversation")).toBeNull();
      const other = await store.createConversation(["alice"]);
      expect(other.id).not.toBe(conv.id);
    });

    test("a user's conversations are listed for every member, newest first, at most limit", async () => {
      const [store, other] = await open();
      const u = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;
      const [alice, bob, carol] = [u("alice"), u("bob"), u("carol")];
      const made: Conversation[] = [];
      for (const members of [[alice, bob], [alice], [bob, alice, carol]]) {
        made.push(await store.createConversation(members));
        await Bun.sleep(2); // "newest first" is by creation time, to the millisecond
      }
      const listed = async (s: MessageStore, user: string, limit = 10) =>
        (await s.conversationsOf(user, limit)).map((c) => ({ id: c.id, members: [...c.members].sort() }));
      const want = (...i: number[]) => i.map((n) => ({ id: made[n].id, members: [...made[n].members].sort() }));
      expect(await listed(other, alice)).toEqual(want(2, 1, 0));
      expect(await listed(other, bob)).toEqual(want(2, 0));
      expect(await listed(store, carol)).toEqual(want(2));
      expect(await listed(store, alice, 2)).toEqual(want(2, 1));
      expect(await listed(store, u("nobody"))).toEqual([]);
    });

    test("countDelivery counts each ref's deliveries on its own, across writers", async () => {
      const [a, b] = await open();
      const ref = `ref-${crypto.randomUUID()}`;
      expect(await a.countDelivery(ref)).toBe(1);
      expect(await b.countDelivery(ref)).toBe(2);
      expect(await a.countDelivery(`${ref}-other`)).toBe(1);
    });

    test("users share a conversation once one has them both as members; a user always shares with themselves", async () => {
      const [store, other] = await open();
      const u = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;
      const [alice, bob, carol, dave] = [u("alice"), u("bob"), u("carol"), u("dave")];
      for (let i = 0; i < 5; i++) await store.createConversation([alice, u("filler")]);
      await store.createConversation([carol, bob]);
      expect(await other.shareConversation(alice, [alice, bob, carol, dave])).toEqual([true, false, false, false]);
      await store.createConversation([bob, alice, carol]);
      expect(await other.shareConversation(alice, [bob, carol, dave, alice])).toEqual([true, true, false, true]);
      expect(await other.shareConversation(dave, [alice, dave])).toEqual([false, true]);
      expect(await store.shareConversation(bob, [])).toEqual([]);
    });

    test("an empty or unknown conversation has lastSeq 0 and no history", async () => {
      const [store] = await open();
      const conv = await store.createConversation(["alice"]);
      expect(await store.lastSeq(conv.id)).toBe(0);
      expect(await store.range(conv.id, 0, 10)).toEqual([]);
      expect(await store.lastSeq("no-such-conversation")).toBe(0);
      expect(await store.range("no-such-conversation", 0, 10)).toEqual([]);
    });

    test("a message is stored with its fields, body intact, and ts set when it was sequenced", async () => {
      const [store] = await open();
      const { id: conv } = await store.createConversation(["alice"]);
      const body = { text: "héllo 👋", n: [0, -1.5, 1e-7, 2 ** 53 - 1], nested: { deep: [null, true, "}{"] } };
      const before = Date.now();
      const [result] = await store.append([msg(conv, "m1", "alice", body)]);
      expect(result.duplicate).toBe(false);
      expect(result.message).toMatchObject({ conv, seq: 1, id: "m1", from: { user: "alice", device: "phone" }, body });
      expect(result.message.ts).toBeGreaterThanOrEqual(before - 1000);
      expect(result.message.ts).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await store.range(conv, 0, 10)).toEqual([result.message]);
      expect(await store.lastSeq(conv)).toBe(1);
    });

    test("concurrent appends from two writers get seq 1..n with no gap and no repeat", async () => {
      const [a, b] = await open();
      const { id: conv } = await a.createConversation(["alice", "bob"]);
      const n = 60;
      const results = await Promise.all(Array.from({ length: n }, (_, i) =>
        (i % 2 ? a : b).append([msg(conv, `m${i}`, i % 3 ? "alice" : "bob")])));
      const seqs = results.map(([r]) => r.message.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(await a.lastSeq(conv)).toBe(n);
      expect((await b.range(conv, 0, n)).map((m) => m.seq)).toEqual(seqs);
    });

    test("a batch is stored in its order, per conversation, with results in the batch's order", async () => {
      const [store] = await open();
      const { id: c1 } = await store.createConversation(["alice"]);
      const { id: c2 } = await store.createConversation(["alice"]);
      const batch = [msg(c1, "a"), msg(c2, "b"), msg(c1, "c"), msg(c2, "d"), msg(c1, "e")];
      const results = await store.append(batch);
      expect(results.map((r) => [r.message.conv, r.message.id, r.message.seq])).toEqual([
        [c1, "a", 1], [c2, "b", 1], [c1, "c", 2], [c2, "d", 2], [c1, "e", 3],
      ]);
      expect((await store.range(c1, 0, 10)).map((m) => m.id)).toEqual(["a", "c", "e"]);
    });

    test("a repeated (user, id) is stored once and answered with the original, marked duplicate", async () => {
      const [a, b] = await open();
      const { id: conv } = await a.createConversation(["alice", "bob"]);
      const [original] = await a.append([msg(conv, "x", "alice", "first")]);
      await a.append([msg(conv, "y")]);
      const [again] = await b.append([msg(conv, "x", "alice", "changed")]);
      expect(again).toEqual({ message: original.message, duplicate: true });
      const inBatch = await a.append([msg(conv, "z"), msg(conv, "z", "alice", "changed")]);
      expect(inBatch.map((r) => [r.message.seq, r.duplicate, r.message.body])).toEqual([[3, false, { text: "z" }], [3, true, { text: "z" }]]);
      expect(await a.lastSeq(conv)).toBe(3);
    });

    test("the same client id from another user, or in another conversation, is another message", async () => {
      const [store] = await open();
      const { id: c1 } = await store.createConversation(["alice", "bob"]);
      const { id: c2 } = await store.createConversation(["alice"]);
      const results = await store.append([msg(c1, "x", "alice"), msg(c1, "x", "bob"), msg(c2, "x", "alice")]);
      expect(results.map((r) => [r.message.seq, r.duplicate])).toEqual([[1, false], [2, false], [1, false]]);
    });

    test("range returns seq > after in ascending order, at most limit", async () => {
      const [store] = await open();
      const { id: conv } = await store.createConversation(["alice"]);
      await store.append(Array.from({ length: 10 }, (_, i) => msg(conv, `m${i + 1}`)));
      const seqs = async (after: number, limit: number) => (await store.range(conv, after, limit)).map((m) => m.seq);
      expect(await seqs(3, 4)).toEqual([4, 5, 6, 7]);
      expect(await seqs(8, 100)).toEqual([9, 10]);
      expect(await seqs(10, 5)).toEqual([]);
      expect(await seqs(0, 0)).toEqual([]);
      expect((await store.range(conv, 0, 3)).map((m) => m.id)).toEqual(["m1", "m2", "m3"]);
    });

    test("history keeps the newest historyLimit messages; range from before them starts at the oldest kept", async () => {
      const [store] = await open(5);
      const { id: conv } = await store.createConversation(["alice"]);
      for (let i = 1; i <= 8; i++) await store.append([msg(conv, `m${i}`)]);
      await store.append([msg(conv, "m9"), msg(conv, "m10")]);
      expect(await store.lastSeq(conv)).toBe(10);
      expect((await store.range(conv, 0, 100)).map((m) => m.seq)).toEqual([6, 7, 8, 9, 10]);
      expect((await store.range(conv, 0, 2)).map((m) => m.seq)).toEqual([6, 7]);
      expect((await store.range(conv, 7, 2)).map((m) => m.id)).toEqual(["m8", "m9"]);
    });

    test("a resend is a duplicate while its original is kept, and a new message once it was trimmed", async () => {
      const [store] = await open(3);
      const { id: conv } = await store.createConversation(["alice"]);
      await store.append([msg(conv, "a"), msg(conv, "b"), msg(conv, "c")]);
      expect((await store.append([msg(conv, "a")]))[0]).toMatchObject({ duplicate: true, message: { seq: 1 } });
      await store.append([msg(conv, "d")]);
      expect((await store.append([msg(conv, "a")]))[0]).toMatchObject({ duplicate: false, message: { seq: 5 } });
      expect((await store.append([msg(conv, "c")]))[0]).toMatchObject({ duplicate: true, message: { seq: 3 } });
    });

    test("the same client id from two users stays two records when one of them is trimmed", async () => {
      const [store] = await open(3);
      const { id: conv } = await store.createConversation(["alice", "bob"]);
      await store.append([msg(conv, "x", "alice"), msg(conv, "x", "bob"), msg(conv, "y", "alice"), msg(conv, "z", "alice")]);
      // alice's x (seq 1) was trimmed; bob's (seq 2) is kept.
      expect((await store.append([msg(conv, "x", "bob")]))[0]).toMatchObject({ duplicate: true, message: { seq: 2 } });
      expect((await store.append([msg(conv, "x", "alice")]))[0]).toMatchObject({ duplicate: false, message: { seq: 5 } });
    });

    test("a read mark only rises, per user, and the stored mark is returned", async () => {
      const [store] = await open();
      const { id: conv } = await store.createConversation(["alice", "bob"]);
      expect(await store.markRead(conv, "alice", 5)).toBe(5);
      expect(await store.markRead(conv, "alice", 3)).toBe(5);
      expect(await store.markRead(conv, "alice", 7)).toBe(7);
      expect(await store.markRead(conv, "bob", 0)).toBe(0);
      expect(await store.markRead(conv, "bob", 2)).toBe(2);
    });

    test("append and markRead reject not_found for an unknown conversation", async () => {
      const [store] = await open();
      await expect(store.append([msg("no-such-conversation", "x")])).rejects.toMatchObject({ code: "not_found" });
      await expect(store.markRead("no-such-conversation", "alice", 1)).rejects.toMatchObject({ code: "not_found" });
    });

    test("a deleted conversation is gone for every member, with its history and read marks; others stay", async () => {
      const [store, other] = await open();
      const u = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;
      const [alice, bob] = [u("alice"), u("bob")];
      const kept = await store.createConversation([alice]);
      const gone = await store.createConversation([alice, bob]);
      await store.append([msg(gone.id, "x", alice), msg(gone.id, "y", bob)]);
      await store.markRead(gone.id, bob, 2);
      expect(await other.deleteConversation(gone.id)).toBe(true);
      expect(await store.conversation(gone.id)).toBeNull();
      expect(await store.range(gone.id, 0, 10)).toEqual([]);
      expect(await store.lastSeq(gone.id)).toBe(0);
      expect((await store.conversationsOf(alice, 10)).map((c) => c.id)).toEqual([kept.id]);
      expect(await store.conversationsOf(bob, 10)).toEqual([]);
      await expect(store.append([msg(gone.id, "z", alice)])).rejects.toMatchObject({ code: "not_found" });
      await expect(store.markRead(gone.id, bob, 3)).rejects.toMatchObject({ code: "not_found" });
      expect(await store.deleteConversation(gone.id)).toBe(false);
      expect(await store.deleteConversation("no-such-conversation")).toBe(false);
      expect(await store.conversation(kept.id)).toEqual(kept);
    });

    test("members never change as messages arrive", async () => {
      const [store] = await open();
      const conv = await store.createConversation(["alice", "bob"]);
      await store.append([msg(conv.id, "x")]);
      expect(await store.conversation(conv.id)).toEqual(conv);
    });

    test("ids that are not well-formed Unicode are refused, naming the field, and nothing is stored", async () => {
      const [store] = await open();
      const refused = (field: string) => ({ code: "bad_request", message: expect.stringMatching(new RegExp(`${field}.*well-formed`)) });
      await expect(store.createConversation(["alice", "\ud800victim"])).rejects.toMatchObject(refused("member"));
      await expect(store.conversationsOf("\udbffvictim", 10)).rejects.toMatchObject(refused("user"));
      const conv = await store.createConversation(["alice"]);
      await expect(store.append([msg(conv.id, "\ud800m")])).rejects.toMatchObject(refused("id"));
      await expect(store.append([msg(conv.id, "m", "\udbffalice")])).rejects.toMatchObject(refused("user"));
      await expect(store.append([msg("\ud800c", "m")])).rejects.toMatchObject(refused("conv"));
      await expect(store.markRead(conv.id, "\ud800alice", 1)).rejects.toMatchObject(refused("user"));
      for (const call of [() => store.conversation("\ud800c"), () => store.range("\ud800c", 0, 10), () => store.lastSeq("\ud800c")]) {
        await expect(call()).rejects.toMatchObject(refused("conv"));
      }
      expect(await store.lastSeq(conv.id)).toBe(0);
    });

    test("message ids that differ only in an astral character are two messages", async () => {
      const [store] = await open();
      const conv = await store.createConversation(["alice"]);
      const [a, b] = await store.append([msg(conv.id, "😀".repeat(128)), msg(conv.id, `${"😀".repeat(127)}😁`)]);
      expect([a.duplicate, b.duplicate, a.message.seq, b.message.seq]).toEqual([false, false, 1, 2]);
    });
  });
}
