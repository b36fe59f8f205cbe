/**
 * Gapless receive: turns the `msg` frames of each conversation, which may repeat or skip
 * (a lost frame, a reconnect, a replay racing live delivery), into one stream per
 * conversation in `seq` order with every seq exactly once.
 */
import type { StoredMessage } from "../core/ports/store.ts";

export interface SequencerHooks {
  /** Next message of a conversation, strictly in order. */
  emit(message: StoredMessage): void;
  /** Ask the node to replay `conv` after the current position (a `sync` frame). */
  sync(conv: string): void;
  /** Messages that no longer exist on the node (history trimmed): reported, then skipped. */
  lost(conv: string, from: number, to: number): void;
  /** Runs fn after ms; returns a cancel function. */
  later(ms: number, fn: () => void): () => void;
}

interface Track {
  /** Highest seq handed on (emitted, or acked as our own send). */
  last: number;
  /** Arrived ahead of `last + 1`; null marks our own acked message (never emitted). */
  ahead: Map<number, StoredMessage | null>;
  syncing: boolean;
  /** Newest seq the node reported (`synced`): everything up to it must arrive. */
  target: number;
  /** `last` when the running sync started, to tell a sync that made no progress. */
  syncFrom: number;
  /** A sync was refused for a passing reason: the node may hold messages not seen yet. */
  unsure: boolean;
  /** Consecutive syncs that ended without progress while a hole stayed open. */
  stalls: number;
  cancelRecheck: (() => void) | null;
}

export class Sequencer {
  #tracks = new Map<string, Track>();
  #hooks: SequencerHooks;
  #graceMs: number;

  /** graceMs: how long a hole may stay open (a frame racing behind another) before a sync. */
  constructor(hooks: SequencerHooks, graceMs: number) {
    this.#hooks = hooks;
    this.#graceMs = graceMs;
  }

  /** Starts following conv after `after` (already seen); false (and no change) when already followed. */
  track(conv: string, after = 0): boolean {
    if (this.#tracks.has(conv)) return false;
    this.#tracks.set(conv, { last: after, ahead: new Map(), target: after, syncing: false, syncFrom: after, unsure: false, stalls: 0, cancelRecheck: null });
    return true;
  }

  forget(conv: string): void {
    this.#tracks.get(conv)?.cancelRecheck?.();
    this.#tracks.delete(conv);
  }

  conversations(): string[] {
    return [...this.#tracks.keys()];
  }

  /** Highest seq handed on in conv; undefined for a conversation not followed. */
  position(conv: string): number | undefined {
    return this.#tracks.get(conv)?.last;
  }

  /** A `msg` frame. A skip ahead means frames were lost: sync at once. */
  receive(m: StoredMessage): void {
    const t = this.#track(m.conv);
    if (!this.#put(t, m.seq, m)) return;
    this.#drain(t);
    if (t.ahead.size > 0) this.#requestSync(m.conv, t);
  }

  /**
   * The ack of our own send: its seq is taken without emitting it. A hole below it may be
   * a `msg` still on its way behind the ack, so it gets the grace period before a sync.
   */
  acked(conv: string, seq: number): void {
    const t = this.#track(conv);
    if (!this.#put(t, seq, null)) return;
    this.#drain(t);
    if (t.ahead.size > 0) this.#recheck(conv, t);
  }

  /** Marks conv as being synced from its current position (the caller sends the frame). */
  syncStarted(conv: string): number {
    const t = this.#track(conv);
    t.syncing = true;
    t.unsure = false;
    t.syncFrom = t.last;
    return t.last;
  }

  /** End of a replay: `newest` is the conversation's newest seq on the node. */
  synced(conv: string, newest: number): void {
    const t = this.#tracks.get(conv);
    if (!t) return;
    t.syncing = false;
    t.target = Math.max(t.target, newest);
    if (!hole(t)) return;
    // The node sends messages it held during the replay right after `synced`, so a hole may
    // close by itself. One that survives two syncs without progress was trimmed away.
    if (t.last === t.syncFrom && ++t.stalls >= 2) this.#skipHole(conv, t);
    else this.#recheck(conv, t);
  }

  /** A sync refused for a passing reason (unavailable, rate_limited): try again later. */
  syncFailed(conv: string): void {
    const t = this.#tracks.get(conv);
    if (!t) return;
    t.syncing = false;
    t.unsure = true;
    this.#recheck(conv, t);
  }

  /** The connection is gone: syncs in flight died with it. */
  reset(): void {
    for (const t of this.#tracks.values()) {
      t.syncing = false;
      t.cancelRecheck?.();
      t.cancelRecheck = null;
    }
  }

  #track(conv: string): Track {
    this.track(conv, 0);
    return this.#tracks.get(conv)!;
  }

  /** false for a duplicate. */
  #put(t: Track, seq: number, m: StoredMessage | null): boolean {
    if (seq <= t.last || t.ahead.has(seq)) return false;
    t.ahead.set(seq, m);
    return true;
  }

  #drain(t: Track): void {
    const before = t.last;
    for (let next = t.ahead.get(t.last + 1); next !== undefined; next = t.ahead.get(t.last + 1)) {
      t.ahead.delete(++t.last);
      if (next) this.#hooks.emit(next);
    }
    if (t.last > before) t.stalls = 0;
    if (!hole(t)) {
      t.cancelRecheck?.();
      t.cancelRecheck = null;
    }
  }

  #requestSync(conv: string, t: Track): void {
    if (t.syncing) return;
    t.syncing = true;
    this.#hooks.sync(conv);
  }

  #recheck(conv: string, t: Track): void {
    if (t.cancelRecheck) return;
    t.cancelRecheck = this.#hooks.later(this.#graceMs, () => {
      t.cancelRecheck = null;
      if (this.#tracks.get(conv) === t && hole(t)) this.#requestSync(conv, t);
    });
  }

  #skipHole(conv: string, t: Track): void {
    const next = t.ahead.size > 0 ? Math.min(...t.ahead.keys()) : t.target + 1;
    this.#hooks.lost(conv, t.last + 1, next - 1);
    t.last = next - 1;
    t.stalls = 0;
    this.#drain(t);
  }
}

/** Messages may exist that have not been handed on yet. */
function hole(t: Track): boolean {
  return t.ahead.size > 0 || t.last < t.target || t.unsure;
}
