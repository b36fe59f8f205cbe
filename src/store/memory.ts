/**
 * The embedded stores: a single node's state in its own memory. Real implementations of
 * the interfaces (they pass the same suites as Redis), not test doubles.
 */
import { duplexError } from "../core/errors.ts";
import { BoundedMap } from "../core/lru.ts";
import type {
  Appended, Conversation, MessageStore, NewMessage, SessionRecord, SessionStore, Stores, StoredMessage,
} from "../core/ports/store.ts";
import { History } from "./history.ts";
import { checkDevice, checkIds, checkMessage } from "./ids.ts";

/** A session as stored: the record's fields and its expiry in one object, the only one a session costs here. */
type Entry = SessionRecord & { expiresAt: number };

const entry = (r: SessionRecord, expiresAt: number): Entry => ({
  session: r.session, user: r.user, device: r.device, node: r.node, connectedAt: r.connectedAt, lastSeen: r.lastSeen, expiresAt,
});

export class MemorySessionStore implements SessionStore {
  /** user+device → entry; one session per device by construction. */
  #byDevice = new Map<string, Entry>();
  #nodes = new Map<string, number>();
  #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async register(record: SessionRecord, ttlMs: number): Promise<SessionRecord | null> {
    checkDevice(record);
    const key = deviceKey(record);
    const old = this.#live(this.#byDevice.get(key));
    const expiresAt = this.#now() + ttlMs;
    this.#byDevice.set(key, entry(record, expiresAt));
    this.#nodes.set(record.node, Math.max(this.#nodes.get(record.node) ?? 0, expiresAt));
    return old && old.session !== record.session ? old : null;
  }

  async remove(record: Pick<SessionRecord, "session" | "user" | "device">): Promise<void> {
    checkDevice(record);
    const key = deviceKey(record);
    if (this.#byDevice.get(key)?.session === record.session) this.#byDevice.delete(key);
  }

  async refresh(node: string, sessions: readonly SessionRecord[], ttlMs: number): Promise<void> {
    sessions.forEach(checkDevice);
    const now = this.#now();
    this.#nodes.set(node, now + ttlMs);
    for (const s of sessions) {
      const key = deviceKey(s);
      const held = this.#byDevice.get(key);
      if (held && held.session === s.session) {
        // Renewed in place: a fresh copy of every session each heartbeat would be promoted
        // to the old generation, and a node's RSS would grow by it until the next full GC.
        held.node = node;
        held.lastSeen = now;
        held.expiresAt = now + ttlMs;
      } else if (!(held && held.expiresAt > now)) {
        const renewed = entry(s, now + ttlMs);
        renewed.node = node;
        renewed.lastSeen = now;
        this.#byDevice.set(key, renewed);
      }
    }
  }

  async byUser(user: string): Promise<SessionRecord[]> {
    checkIds("user", user);
    return this.#select((r) => r.user === user);
  }

  async byNode(node: string): Promise<SessionRecord[]> {
    return this.#select((r) => r.node === node);
  }

  async sweep(): Promise<number> {
    const now = this.#now();
    let removed = 0;
    for (const [key, held] of this.#byDevice) {
      const nodeUntil = this.#nodes.get(held.node);
      if (held.expiresAt <= now || (nodeUntil !== undefined && nodeUntil <= now)) {
        this.#byDevice.delete(key);
        removed++;
      }
    }
    for (const [node, until] of this.#nodes) if (until <= now) this.#nodes.delete(node);
    return removed;
  }

  async close(): Promise<void> {}

  #live(held: Entry | undefined): SessionRecord | null {
    return held && held.expiresAt > this.#now() ? recordOf(held) : null;
  }

  #select(pred: (r: SessionRecord) => boolean): SessionRecord[] {
    const out: SessionRecord[] = [];
    const now = this.#now();
    // An entry is a record with its expiry: the predicate reads it as is, and only a match is copied.
    for (const held of this.#byDevice.values()) if (held.expiresAt > now && pred(held)) out.push(recordOf(held));
    return out;
  }
}

/** A copy for the caller, without the expiry. */
const recordOf = ({ expiresAt: _, ...record }: Entry): SessionRecord => record;

const deviceKey = (r: { user: string; device: string }) => JSON.stringify([r.user, r.device]);

interface ConvState {
  conv: Conversation;
  history: History;
  reads: Map<string, number>;
}

export class MemoryMessageStore implements MessageStore {
  #convs = new Map<string, ConvState>();
  /** user → ids of the user's conversations, oldest first. */
  #byUser = new Map<string, string[]>();
  #historyLimit: number;
  #now: () => number;
  #deliveries = new BoundedMap<string, number>(100_000);

  constructor(options: { historyLimit?: number; now?: () => number } = {}) {
    this.#historyLimit = options.historyLimit ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async createConversation(members: readonly string[]): Promise<Conversation> {
    checkIds("member", ...members);
    const conv = { id: crypto.randomUUID(), members: [...new Set(members)] };
    this.#convs.set(conv.id, { conv, history: new History(), reads: new Map() });
    for (const user of conv.members) {
      const ids = this.#byUser.get(user);
      if (ids) ids.push(conv.id);
      else this.#byUser.set(user, [conv.id]);
    }
    return { id: conv.id, members: [...conv.members] };
  }

  async conversation(id: string): Promise<Conversation | null> {
    checkIds("conv", id);
    const c = this.#convs.get(id)?.conv;
    return c ? { id: c.id, members: [...c.members] } : null;
  }

  async conversationsOf(user: string, limit: number): Promise<Conversation[]> {
    checkIds("user", user);
    const ids = this.#byUser.get(user) ?? [];
    return ids.slice(Math.max(0, ids.length - limit)).reverse().map((id) => ({ id, members: [...this.#convs.get(id)!.conv.members] }));
  }

  async shareConversation(user: string, others: readonly string[]): Promise<boolean[]> {
    checkIds("user", user, ...others);
    const mine = new Set(this.#byUser.get(user));
    return others.map((other) => other === user || (this.#byUser.get(other) ?? []).some((id) => mine.has(id)));
  }

  async append(messages: readonly NewMessage[]): Promise<Appended[]> {
    messages.forEach(checkMessage);
    return messages.map((m) => this.#appendOne(m));
  }

  async range(conv: string, after: number, limit: number): Promise<StoredMessage[]> {
    checkIds("conv", conv);
    return this.#convs.get(conv)?.history.range(after, limit) ?? [];
  }

  async lastSeq(conv: string): Promise<number> {
    checkIds("conv", conv);
    return this.#convs.get(conv)?.history.last ?? 0;
  }

  async markRead(conv: string, user: string, seq: number): Promise<number> {
    checkIds("conv", conv);
    checkIds("user", user);
    const reads = this.#state(conv).reads;
    const mark = Math.max(reads.get(user) ?? 0, seq);
    reads.set(user, mark);
    return mark;
  }

  async deleteConversation(id: string): Promise<boolean> {
    const state = this.#convs.get(id);
    if (!state) return false;
    this.#convs.delete(id);
    for (const user of state.conv.members) {
      const ids = this.#byUser.get(user)!.filter((c) => c !== id);
      if (ids.length > 0) this.#byUser.set(user, ids);
      else this.#byUser.delete(user);
    }
    return true;
  }

  async countDelivery(ref: string): Promise<number> {
    const count = (this.#deliveries.get(ref) ?? 0) + 1;
    this.#deliveries.set(ref, count);
    return count;
  }

  async close(): Promise<void> {}

  #appendOne(m: NewMessage): Appended {
    const { history } = this.#state(m.conv);
    const prior = history.sent(m.from.user, m.id);
    if (prior) return { message: prior, duplicate: true };
    // Field by field, in the order the Redis store reads them back: one shape for both stores' messages.
    const message: StoredMessage = { conv: m.conv, seq: history.last + 1, id: m.id, from: m.from, body: m.body, ts: this.#now() };
    history.push(message);
    while (history.size > this.#historyLimit) history.trimOne();
    return { message, duplicate: false };
  }

  #state(conv: string): ConvState {
    const state = this.#convs.get(conv);
    if (!state) throw duplexError("not_found", `no conversation "${conv}"`);
    return state;
  }
}

export function memoryStores(options: { historyLimit?: number } = {}): Stores {
  const sessions = new MemorySessionStore();
  const messages = new MemoryMessageStore(options);
  return { sessions, messages, ready: () => true, reconnects: () => 0, close: async () => {} };
}
