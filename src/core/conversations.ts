/**
 * The conversations a node has read, kept: members never change, so one read serves every
 * later send and fan-out (until the conversation is deleted through this node).
 */
import { duplexError } from "./errors.ts";
import { BoundedMap } from "./lru.ts";
import type { Conversation, MessageStore } from "./ports/store.ts";

export class Conversations {
  /** A conversation read, or its read under way. */
  #held: BoundedMap<string, Conversation | Promise<Conversation | null>>;
  #store: MessageStore;

  /** Keeps at least the `kept` most recently used conversations. */
  constructor(store: MessageStore, kept = 100_000) {
    this.#store = store;
    this.#held = new BoundedMap(kept);
  }

  get(id: string): Promise<Conversation | null> {
    const held = this.#held.get(id);
    if (held instanceof Promise) return held;
    if (held) return Promise.resolve(held);
    // A native promise, whatever kind the store returns: `known` tells a read from a conversation by it.
    const p = Promise.resolve(this.#store.conversation(id));
    this.#held.set(id, p);
    // The read's first reaction: whoever awaited it finds the conversation known when it goes
    // on. A miss or a failure must not be remembered: the conversation may appear later.
    p.then((c) => {
      if (this.#held.get(id) !== p) return;
      if (c) this.#held.set(id, c);
      else this.#held.delete(id);
    }, () => { if (this.#held.get(id) === p) this.#held.delete(id); });
    return p;
  }

  /**
   * The conversation when it was read already; undefined while it is not, or is being read.
   * A caller that finds it known cannot overtake one that awaited its read: the read's
   * first reaction makes it known, before any awaiting caller goes on. (One forgotten or
   * pushed out while read is read again, and two reads answered out of order could still
   * reorder their callers; the store answers one connection's reads in order.)
   */
  known(id: string): Conversation | undefined {
    const held = this.#held.get(id);
    return held instanceof Promise ? undefined : held;
  }

  /** The conversation if it exists and `user` is a member; forbidden / not_found otherwise. */
  async member(conv: string, user: string): Promise<Conversation> {
    return memberOf(await this.get(conv), conv, user);
  }

  /** As `member`, without a promise when the conversation is known: every send checks it. */
  memberNow(conv: string, user: string): Conversation | Promise<Conversation> {
    const c = this.known(conv);
    return c ? memberOf(c, conv, user) : this.member(conv, user);
  }

  forget(id: string): void {
    this.#held.delete(id);
  }
}

function memberOf(c: Conversation | null, conv: string, user: string): Conversation {
  if (!c) throw duplexError("not_found", `no conversation "${conv}"`);
  if (!c.members.includes(user)) throw duplexError("forbidden", `you are not a member of conversation "${conv}"`);
  return c;
}
