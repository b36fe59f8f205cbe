/**
 * Turns the broker's fan-out into per-conversation order on this node. Messages arrive
 * at-least-once and, across failovers or concurrent publishers, not always contiguous:
 * repeats (seq <= last delivered) are dropped here, and a gap is filled from the store
 * before anything after it is emitted, so local devices see 1, 2, 3, … exactly once.
 */
import type { MessageStore, StoredMessage } from "./ports/store.ts";
import type { Logger } from "./log.ts";
import { errorFields } from "./log.ts";
import { BoundedMap } from "./lru.ts";

/** Conversations whose last delivered seq this node remembers. */
const REMEMBERED = 100_000;
const PAGE = 1000;

export class OrderedDelivery {
  #last = new BoundedMap<string, number>(REMEMBERED);
  /** Conversations with async work under way (gap fill), and what waits behind it. */
  #waiting = new Map<string, StoredMessage[]>();
  #store: MessageStore;
  #emit: (m: StoredMessage) => void;
  #log: Logger;

  /** `emit` gets each message once, in seq order per conversation. */
  constructor(store: MessageStore, emit: (m: StoredMessage) => void, log: Logger) {
    this.#store = store;
    this.#emit = emit;
    this.#log = log;
  }

  push(m: StoredMessage): void {
    const waiting = this.#waiting.get(m.conv);
    if (waiting) {
      waiting.push(m);
      return;
    }
    const last = this.#last.get(m.conv);
    if (last !== undefined && m.seq <= last) return;
    if (last === undefined || m.seq === last + 1) {
      this.#last.set(m.conv, m.seq);
      this.#emit(m);
      return;
    }
    this.#waiting.set(m.conv, [m]);
    void this.#fill(m.conv);
  }

  /** The last seq emitted or passed in conv; undefined for a conversation not followed (or forgotten). */
  delivered(conv: string): number | undefined {
    return this.#last.get(conv);
  }

  /** Records seq as passed without emitting it: no local device wants it. */
  skip(m: StoredMessage): void {
    const waiting = this.#waiting.get(m.conv);
    if (waiting) waiting.push(m);
    else if (m.seq > (this.#last.get(m.conv) ?? 0)) this.#last.set(m.conv, m.seq);
  }

  async #fill(conv: string): Promise<void> {
    const waiting = this.#waiting.get(conv)!;
    while (waiting.length > 0) {
      const batch = waiting.splice(0).sort((a, b) => a.seq - b.seq);
      let last = this.#last.get(conv) ?? 0;
      const target = batch[batch.length - 1].seq;
      let ordered = batch;
      try {
        if (target > last + 1) ordered = await this.#range(conv, last, target);
      } catch (err) {
        // Without the store the gap stays open; devices close it with `sync`.
        this.#log.warn("gap fill failed", { conv, after: last, until: target, ...errorFields(err) });
      }
      for (const m of ordered) {
        if (m.seq <= last) continue;
        last = m.seq;
        this.#emit(m);
      }
      this.#last.set(conv, last);
    }
    this.#waiting.delete(conv);
  }

  async #range(conv: string, after: number, until: number): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    while (after < until) {
      const page = await this.#store.range(conv, after, Math.min(PAGE, until - after));
      if (page.length === 0) break;
      out.push(...page);
      after = page[page.length - 1].seq;
    }
    return out;
  }
}
