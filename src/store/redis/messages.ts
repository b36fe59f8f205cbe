/**
 * Conversations, sequencing and history in Redis (key layout: keys.ts). One script
 * call per conversation does, for each message in order: look up the idempotency record,
 * or take the next seq, store the message, write the record and trim the history. The
 * calls for a batch are sent together, so `append` costs one round trip however many
 * messages and conversations the batch holds, and stays cluster-ready (one slot per call).
 *
 * Retention: the newest `historyLimit` messages of each conversation are kept, with their
 * idempotency records; a resend of a message already trimmed is stored again (it is
 * older than `historyLimit` newer messages). `range` starts at the oldest retained message
 * when asked for less: a reader sees a jump in seq where history was trimmed.
 */
import { duplexError } from "../../core/errors.ts";
import { serialise } from "../../core/protocol.ts";
import { checkIds, checkMessage } from "../ids.ts";
import type { Appended, Conversation, MessageStore, NewMessage, StoredMessage } from "../../core/ports/store.ts";
import type { RedisLink } from "../../redis/connection.ts";
import type { RedisKeys } from "./keys.ts";
import type { SCRIPTS } from "./scripts.ts";

type Link = RedisLink<typeof SCRIPTS>;
type Payload = Pick<StoredMessage, "id" | "from" | "body">;

export class RedisMessageStore implements MessageStore {
  #link: Link;
  #keys: RedisKeys;
  #historyLimit: number;

  constructor(link: Link, keys: RedisKeys, historyLimit: number) {
    this.#link = link;
    this.#keys = keys;
    this.#historyLimit = historyLimit;
  }

  /**
   * The conversation and each member's index live in different slots, so they are written
   * by separate commands, sent together (one round trip). Should some fail, the call
   * rejects and the caller creates another; an index entry whose conversation was never
   * written is skipped by conversationsOf.
   */
  async createConversation(members: readonly string[]): Promise<Conversation> {
    checkIds("member", ...members);
    const conv = { id: crypto.randomUUID(), members: [...new Set(members)] };
    const k = this.#keys;
    const at = Date.now();
    return this.#link.run(async (c) => {
      await Promise.all([
        c.hSet(k.conv(conv.id), { members: JSON.stringify(conv.members), seq: 0 }),
        ...conv.members.map((user) => c.zAdd(k.userConvs(user), { score: at, value: conv.id })),
      ]);
      return conv;
    });
  }

  async conversation(id: string): Promise<Conversation | null> {
    checkIds("conv", id);
    return this.#link.run(async (c) => {
      const members = await c.hGet(this.#keys.conv(id), "members");
      return members === null ? null : { id, members: JSON.parse(members) as string[] };
    });
  }

  async conversationsOf(user: string, limit: number): Promise<Conversation[]> {
    checkIds("user", user);
    return this.#link.run(async (c) => {
      const ids = limit < 1 ? [] : await c.zRange(this.#keys.userConvs(user), 0, limit - 1, { REV: true });
      const members = await Promise.all(ids.map((id) => c.hGet(this.#keys.conv(id), "members")));
      return ids.flatMap((id, i) => members[i] === null ? [] : [{ id, members: JSON.parse(members[i]!) as string[] }]);
    });
  }

  /**
   * Two users' indexes live in different slots, so they are compared here: the shorter one
   * is read and its ids looked up in the longer one (ZMSCORE). Three round trips; the cost
   * grows with the smaller of the two users' conversation counts.
   */
  async shareConversation(user: string, others: readonly string[]): Promise<boolean[]> {
    checkIds("user", user, ...others);
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const [mine, ...theirs] = await Promise.all([user, ...others].map((u) => c.zCard(k.userConvs(u))));
      return Promise.all(others.map(async (other, i) => {
        if (other === user) return true;
        if (mine === 0 || theirs[i] === 0) return false;
        const [short, long] = theirs[i] < mine ? [other, user] : [user, other];
        const ids = await c.zRange(k.userConvs(short), 0, -1);
        return ids.length > 0 && (await c.zmScore(k.userConvs(long), ids)).some((score) => score !== null);
      }));
    });
  }

  async append(messages: readonly NewMessage[]): Promise<Appended[]> {
    messages.forEach(checkMessage);
    const k = this.#keys;
    const byConv = new Map<string, NewMessage[]>();
    for (const m of messages) {
      const group = byConv.get(m.conv);
      if (group) group.push(m);
      else byConv.set(m.conv, [m]);
    }
    const ts = Date.now();
    // Serialised before Redis is called: a body that cannot be is refused for good
    // ("unprocessable"), never taken for Redis failing ("unavailable", retried).
    const calls = Array.from(byConv, ([conv, group]) => [conv, group.flatMap((m) => [
      JSON.stringify([m.from.user, m.id]),
      serialise({ id: m.id, from: m.from, body: m.body }, `message "${m.id}" of conversation "${conv}"`),
    ])] as const);
    return this.#link.run(async (c) => {
      const stored = await Promise.all(calls.map(async ([conv, args]) => {
        const out = await c.append([k.conv(conv), k.log(conv), k.ids(conv)], [this.#historyLimit, ts, ...args]);
        if (out === null) throw duplexError("not_found", `no conversation "${conv}"`);
        return out.map(({ duplicate, entry }): Appended => ({ message: parse(conv, entry), duplicate }));
      }));
      // Back to the caller's order: each conversation's results are in its messages' order.
      const next = new Map(Array.from(byConv.keys(), (conv, i) => [conv, stored[i][Symbol.iterator]()]));
      return messages.map((m) => next.get(m.conv)!.next().value!);
    });
  }

  async range(conv: string, after: number, limit: number): Promise<StoredMessage[]> {
    checkIds("conv", conv);
    return this.#link.run(async (c) => {
      const texts = await c.range([this.#keys.conv(conv), this.#keys.log(conv)], [after, limit]);
      return texts.map((t) => parse(conv, t));
    });
  }

  async lastSeq(conv: string): Promise<number> {
    checkIds("conv", conv);
    return this.#link.run(async (c) => Number(await c.hGet(this.#keys.conv(conv), "seq") ?? 0));
  }

  async markRead(conv: string, user: string, seq: number): Promise<number> {
    checkIds("conv", conv);
    checkIds("user", user);
    return this.#link.run(async (c) => {
      const mark = await c.markRead([this.#keys.conv(conv), this.#keys.reads(conv)], [user, seq]);
      if (mark === null) throw duplexError("not_found", `no conversation "${conv}"`);
      return mark;
    });
  }

  /**
   * The members' index entries go first, the conversation's own keys (one slot) last: a
   * call that fails between the two leaves the conversation readable, with its members,
   * so a repeat finishes the job; an emptied index key vanishes with its last entry.
   */
  deleteConversation(id: string): Promise<boolean> {
    const k = this.#keys;
    return this.#link.run(async (c) => {
      const members = await c.hGet(k.conv(id), "members");
      if (members === null) return false;
      await Promise.all((JSON.parse(members) as string[]).map((user) => c.zRem(k.userConvs(user), id)));
      await c.del([k.conv(id), k.log(id), k.ids(id), k.reads(id)]);
      return true;
    });
  }

  countDelivery(ref: string): Promise<number> {
    const key = this.#keys.deliveries(ref);
    return this.#link.run(async (c) => {
      const [count] = await Promise.all([c.incr(key), c.pExpire(key, DELIVERY_COUNT_TTL_MS)]);
      return count;
    });
  }

  async close(): Promise<void> {}
}

const DELIVERY_COUNT_TTL_MS = 24 * 3600_000;

/** A stored entry is the JSON text [seq, ts, payload], built by the append script. */
function parse(conv: string, text: string): StoredMessage {
  const [seq, ts, payload] = JSON.parse(text) as [number, number, Payload];
  return { conv, seq, id: payload.id, from: payload.from, body: payload.body, ts };
}
