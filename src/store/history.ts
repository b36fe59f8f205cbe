/**
 * One conversation's retained messages and idempotency records in the embedded store, laid
 * out for a generational collector. JavaScriptCore (Bun) rescans an old array or Map whole at
 * every young collection once anything new is stored in it, so a history kept in one array
 * and one Map per sender cost each collection a scan of every busy conversation's history.
 * Here an append writes only into a chunk of at most CHUNK messages and a Map of at most
 * CHUNK recent ids; the long-lived structures change once per CHUNK messages.
 */
import type { StoredMessage } from "../core/ports/store.ts";

/** Messages per chunk, and ids a sender's recent records hold before they settle. */
export const CHUNK = 64;

export class History {
  /**
   * chunks[i][j] is seq `(dropped + i) * CHUNK + j + 1`, where the dropped chunks, those
   * trimmed whole, number `floor(trimmed / CHUNK)`; trimmed slots are emptied.
   */
  #chunks: (StoredMessage | undefined)[][] = [];
  #trimmed = 0;
  #last = 0;
  /** sender's user → the ids of that user's retained messages, with their seqs. */
  #ids = new Map<string, Ids>();

  /** Seq of the newest message; 0 when none was ever kept. */
  get last(): number {
    return this.#last;
  }

  get size(): number {
    return this.#last - this.#trimmed;
  }

  /** The retained message `user` sent with `id`, if any. */
  sent(user: string, id: string): StoredMessage | undefined {
    const seq = this.#ids.get(user)?.get(id);
    return seq === undefined ? undefined : this.#at(seq);
  }

  /** Keeps m, whose seq must be `last + 1`. */
  push(m: StoredMessage): void {
    const offset = (m.seq - 1) % CHUNK;
    if (offset === 0) this.#chunks.push([m]);
    else this.#chunks[this.#chunks.length - 1].push(m);
    this.#last = m.seq;
    let ids = this.#ids.get(m.from.user);
    if (!ids) this.#ids.set(m.from.user, (ids = new Ids()));
    ids.set(m.id, m.seq);
  }

  /** Forgets the oldest message and its idempotency record. */
  trimOne(): void {
    const seq = ++this.#trimmed;
    const chunk = this.#chunks[0];
    const offset = (seq - 1) % CHUNK;
    const old = chunk[offset]!;
    chunk[offset] = undefined;
    if (offset === CHUNK - 1) this.#chunks.shift();
    const ids = this.#ids.get(old.from.user)!;
    ids.delete(old.id);
    if (ids.size === 0) this.#ids.delete(old.from.user);
  }

  /** Retained messages after seq `after`, oldest first, at most `limit`. */
  range(after: number, limit: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    const from = Math.max(after, this.#trimmed);
    const until = Math.min(this.#last, from + limit);
    for (let seq = from + 1; seq <= until; seq++) out.push(this.#at(seq)!);
    return out;
  }

  #at(seq: number): StoredMessage | undefined {
    return this.#chunks[Math.floor((seq - 1) / CHUNK) - Math.floor(this.#trimmed / CHUNK)]?.[(seq - 1) % CHUNK];
  }
}

/**
 * One sender's ids: new records go to a small Map, which settles into the large one when it
 * holds CHUNK, so the large one is written once per CHUNK messages.
 */
class Ids {
  #recent = new Map<string, number>();
  #settled = new Map<string, number>();

  get size(): number {
    return this.#recent.size + this.#settled.size;
  }

  get(id: string): number | undefined {
    return this.#recent.get(id) ?? this.#settled.get(id);
  }

  set(id: string, seq: number): void {
    this.#recent.set(id, seq);
    if (this.#recent.size < CHUNK) return;
    for (const [key, value] of this.#recent) this.#settled.set(key, value);
    this.#recent.clear();
  }

  delete(id: string): void {
    if (!this.#recent.delete(id)) this.#settled.delete(id);
  }
}
