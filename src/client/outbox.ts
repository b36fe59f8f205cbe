/**
 * The outbox: every `send` that has no `ack` yet. An entry leaves only on its ack (or an
 * error that refuses it for good), so a connection lost between send and ack resends it
 * with the same id, and the node's idempotency turns the repeat into the original ack.
 */
import type { DuplexError } from "../core/errors.ts";

export interface OutboxEntry {
  id: string;
  conv: string;
  body: unknown;
  /** ms since epoch when send() was called. */
  at: number;
}

export interface Ack {
  id: string;
  conv: string;
  seq: number;
}

/**
 * Where unacked entries survive the client (a reload, a crash). `save` receives the whole
 * outbox after every change, in order, before the entry is first sent; `load` is read
 * once, at construction, and its entries are sent again on the next connection.
 */
export interface OutboxStorage {
  load(): OutboxEntry[] | Promise<OutboxEntry[]>;
  save(entries: readonly OutboxEntry[]): void | Promise<void>;
}

/** Keeps nothing beyond the client's lifetime. */
export function memoryStorage(): OutboxStorage {
  return { load: () => [], save: () => {} };
}

/** Persists in a Web Storage area (`localStorage`) under `key`. */
export function webStorage(area: Pick<Storage, "getItem" | "setItem">, key = "duplex.outbox"): OutboxStorage {
  return {
    load() {
      const raw = area.getItem(key);
      if (!raw) return [];
      const value: unknown = JSON.parse(raw);
      return Array.isArray(value) ? value.filter(isEntry) : [];
    },
    save(entries) {
      area.setItem(key, JSON.stringify(entries));
    },
  };
}

function isEntry(v: unknown): v is OutboxEntry {
  const e = v as OutboxEntry;
  return typeof e === "object" && e !== null && typeof e.id === "string" && typeof e.conv === "string" && "body" in e && typeof e.at === "number";
}

interface Pending {
  entry: OutboxEntry;
  /** Sent on the current connection and not answered yet. */
  inFlight: boolean;
  /** Absent for entries restored from storage: nobody awaits them. */
  settle?: { resolve(ack: Ack): void; reject(err: DuplexError): void };
}

export class Outbox {
  #pending = new Map<string, Pending>();
  #storage: OutboxStorage;
  #onSaveError: (err: unknown) => void;

  constructor(storage: OutboxStorage, onSaveError: (err: unknown) => void) {
    this.#storage = storage;
    this.#onSaveError = onSaveError;
  }

  /** Restores stored entries (ahead of any added since). */
  async restore(): Promise<void> {
    const stored = await this.#storage.load();
    const added = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of stored) this.#pending.set(entry.id, { entry, inFlight: false });
    for (const p of added) this.#pending.set(p.entry.id, p);
    if (stored.length > 0 && added.length > 0) this.#save();
  }

  get size(): number {
    return this.#pending.size;
  }

  get inFlight(): number {
    let n = 0;
    for (const p of this.#pending.values()) if (p.inFlight) n++;
    return n;
  }

  has(id: string): boolean {
    return this.#pending.has(id);
  }

  add(entry: OutboxEntry): Promise<Ack> {
    const done = new Promise<Ack>((resolve, reject) => {
      this.#pending.set(entry.id, { entry, inFlight: false, settle: { resolve, reject } });
    });
    this.#save();
    return done;
  }

  /** Up to `max` entries not in flight, oldest first, now marked in flight. */
  take(max: number): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const p of this.#pending.values()) {
      if (out.length >= max) break;
      if (p.inFlight) continue;
      p.inFlight = true;
      out.push(p.entry);
    }
    return out;
  }

  /** Resolves and removes the entry; false when it was not pending (a repeated ack). */
  ack(ack: Ack): boolean {
    const p = this.#pending.get(ack.id);
    if (!p || p.entry.conv !== ack.conv) return false;
    this.#pending.delete(ack.id);
    this.#save();
    p.settle?.resolve(ack);
    return true;
  }

  /** Refuses the entry for good; false when nobody awaited it (restored from storage). */
  fail(id: string, err: DuplexError): boolean {
    const p = this.#pending.get(id);
    if (!p) return false;
    this.#pending.delete(id);
    this.#save();
    p.settle?.reject(err);
    return p.settle !== undefined;
  }

  /** The entry is to be sent again (a passing refusal). */
  retry(id: string): void {
    const p = this.#pending.get(id);
    if (p) p.inFlight = false;
  }

  /** The connection is gone: nothing is in flight any more. */
  resetInFlight(): void {
    for (const p of this.#pending.values()) p.inFlight = false;
  }

  /** Rejects every awaited send (the entries stay stored for a later connection). */
  rejectWaiting(err: DuplexError): void {
    for (const p of this.#pending.values()) {
      p.settle?.reject(err);
      delete p.settle;
    }
  }

  #save(): void {
    const snapshot = [...this.#pending.values()].map((p) => p.entry);
    // Called synchronously, so a synchronous storage has the entry before it is sent.
    try {
      void Promise.resolve(this.#storage.save(snapshot)).catch(this.#onSaveError);
    } catch (err) {
      this.#onSaveError(err);
    }
  }
}
