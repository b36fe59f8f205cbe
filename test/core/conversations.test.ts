import { describe, expect, test } from "bun:test";
import { Conversations } from "../../src/core/conversations.ts";
import type { Conversation } from "../../src/core/ports/store.ts";
import { MemoryMessageStore } from "../../src/store/memory.ts";

/** A store whose conversation reads are counted, and can be held open or made to fail. */
function counting(store = new MemoryMessageStore()) {
  const reads: string[] = [];
  let hold: Promise<void> | null = null;
  let fail = false;
  const read = store.conversation.bind(store);
  store.conversation = async (id: string) => {
    reads.push(id);
    if (hold) await hold;
    if (fail) throw new Error("store down");
    return read(id);
  };
  return {
    store, reads,
    holdReads() {
      let open!: () => void;
      hold = new Promise((r) => { open = r; });
      return () => { hold = null; open(); };
    },
    failReads(on: boolean) { fail = on; },
  };
}

/** A conversation of a and b in a counting store, and a cache over that store. */
async function fresh() {
  const s = counting();
  const conv: Conversation = await s.store.createConversation(["a", "b"]);
  return { s, conv, cs: new Conversations(s.store) };
}

describe("Conversations", () => {
  test("a conversation is read once, and known from then on", async () => {
    const { s, conv, cs } = await fresh();
    expect(cs.known(conv.id)).toBeUndefined();
    expect(await cs.get(conv.id)).toEqual(conv);
    expect(await cs.get(conv.id)).toEqual(conv);
    expect(cs.known(conv.id)).toEqual(conv);
    expect(s.reads).toEqual([conv.id]);
  });

  test("while its read is under way it is not known, and every caller shares the one read", async () => {
    const { s, conv, cs } = await fresh();
    const release = s.holdReads();
    const first = cs.get(conv.id);
    const second = cs.get(conv.id);
    await new Promise((r) => setTimeout(r, 5));
    expect(cs.known(conv.id)).toBeUndefined();
    release();
    expect(await Promise.all([first, second])).toEqual([conv, conv]);
    expect(s.reads).toEqual([conv.id]);
  });

  test("a caller that awaited the read finds the conversation known when it goes on", async () => {
    const { s, conv, cs } = await fresh();
    const release = s.holdReads();
    // What fan-out relies on: a later message that finds it known cannot overtake this one.
    const seen = cs.get(conv.id).then(() => cs.known(conv.id));
    release();
    expect(await seen).toEqual(conv);
  });

  test("a miss and a failed read are not remembered: the conversation may appear, the store come back", async () => {
    const s = counting();
    const cs = new Conversations(s.store);
    expect(await cs.get("later")).toBeNull();
    s.failReads(true);
    const conv = await s.store.createConversation(["a", "b"]);
    await expect(cs.get(conv.id)).rejects.toThrow("store down");
    s.failReads(false);
    expect(await cs.get(conv.id)).toEqual(conv);
    expect(s.reads).toEqual(["later", conv.id, conv.id]);
  });

  test("a forgotten conversation is read again, and a read that was forgotten meanwhile is not kept", async () => {
    const { s, conv, cs } = await fresh();
    const release = s.holdReads();
    const reading = cs.get(conv.id);
    cs.forget(conv.id);
    release();
    await reading;
    expect(cs.known(conv.id)).toBeUndefined();
    await cs.get(conv.id);
    expect(s.reads).toEqual([conv.id, conv.id]);
  });

  test("a store whose reads are not native promises is still told apart from a conversation", async () => {
    const { s, conv, cs } = await fresh();
    const native = s.store.conversation.bind(s.store);
    // A promise from another library or realm: a thenable, not a Promise.
    s.store.conversation = ((id: string) => ({ then: (ok: (c: Conversation | null) => unknown, no: (e: unknown) => unknown) => native(id).then(ok, no) })) as never;
    expect(cs.known(conv.id)).toBeUndefined();
    const reading = cs.get(conv.id);
    expect(cs.known(conv.id)).toBeUndefined();
    expect(await reading).toEqual(conv);
    expect(cs.known(conv.id)).toEqual(conv);
  });

  test("memberNow answers a known conversation without a promise, and refuses a non-member or an unknown id", async () => {
    const { conv, cs } = await fresh();
    const unread = cs.memberNow(conv.id, "a");
    expect(unread).toBeInstanceOf(Promise);
    expect(await unread).toEqual(conv);
    expect(cs.memberNow(conv.id, "a")).toEqual(conv);
    expect(() => cs.memberNow(conv.id, "c")).toThrow(`you are not a member of conversation "${conv.id}"`);
    await expect(cs.member("nope", "a")).rejects.toThrow('no conversation "nope"');
  });
});
