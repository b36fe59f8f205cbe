/**
 * One client connection as the hub keeps it: its session, its socket seam, its limits, and
 * the way frames leave for it — where a reader that stops reading is caught before its
 * unsent frames grow without bound.
 */
import type { SessionRecord, StoredMessage } from "./ports/store.ts";
import type { HubMetrics } from "./metrics.ts";
import { encode, msgFrame, type ServerFrame } from "./protocol.ts";
import { BoundedMap } from "./lru.ts";
import type { Bucket, RateLimit, RateVerdict } from "./rate.ts";
import type { SocketEvents, SocketSeam } from "./socket.ts";

/** How long a send buffer may stay over the bound: runtimes that write asynchronously
 * (Deno) report a burst sent in one turn as buffered until the event loop runs. */
export const SLOW_GRACE_MS = 250;
/** Over this many times the bound a reader is closed at once: memory comes first. */
export const SLOW_HARD_FACTOR = 8;
/** Conversations per connection whose latest live run is remembered (for `sync`): at least the most recent this many (BoundedMap). */
export const LIVE_RUNS = 256;

export interface Outbound {
  maxBufferedBytes: number;
  /** The rate limit every connection's bucket is drawn under. */
  limit: RateLimit;
  metrics: HubMetrics;
  /** Called once for a reader too slow to keep: dropping its frames would be silent loss. */
  tooSlow(conn: Connection): void;
  /** A frame that cannot be encoded is skipped: logged and counted here. */
  unencodable(conn: Connection, frame: ServerFrame): void;
  /** The socket's events, handled by the hub: one set of functions for every connection. */
  text(conn: Connection, data: string): void;
  binary(conn: Connection): void;
  pong(conn: Connection): void;
  closed(conn: Connection, code: number): void;
}

/**
 * The connection is its socket's event handler too: an idle socket costs this object and its
 * session record, and no closures of its own.
 */
export class Connection implements SocketEvents, Bucket {
  readonly record: SessionRecord;
  readonly seam: SocketSeam;
  lastSeen: number;
  /** Its rate limit's bucket (RateLimit.take): the tokens left, and when they were counted. */
  tokens: number;
  countedAt: number;
  /** Set once the heartbeat has pinged it: only then does silence mean death. */
  pingable = false;
  closed = false;
  /** Until the session is registered and welcomed: the client's frames wait for it. */
  welcomed: Promise<void> | null = null;
  /** Per conversation replayed by `sync`; null for a connection that never synced. */
  #replays: Map<string, Replay> | null = null;
  /**
   * Per conversation, the latest unbroken run of seqs the live stream sent here: a client
   * may ask to `sync` before those frames reach it, and the replay must not send them twice.
   */
  #runs: BoundedMap<string, Run> | null = null;
  #out: Outbound;
  #from: { user: string; device: string } | null = null;
  /** Pending second look at a send buffer found over the bound. */
  #slowCheck: ReturnType<typeof setTimeout> | undefined;

  constructor(record: SessionRecord, seam: SocketSeam, out: Outbound) {
    this.record = record;
    this.seam = seam;
    this.lastSeen = record.connectedAt;
    this.tokens = out.limit.burst;
    this.countedAt = record.connectedAt;
    this.#out = out;
  }

  /** The sender of this connection's messages: one object for all of them, as the store keeps each. */
  get from(): { user: string; device: string } {
    return (this.#from ??= { user: this.record.user, device: this.record.device });
  }

  /** The rate limit's verdict on a frame received at `now`. */
  take(now: number): RateVerdict {
    return this.#out.limit.take(this, now);
  }

  send(frame: ServerFrame): void {
    const text = encode(frame);
    if (text === null) return this.#out.unencodable(this, frame);
    this.#out.metrics.frameOut(frame.type);
    this.sendText(text);
  }

  /** An encoded frame, for one text sent to many connections. */
  sendText(text: string): void {
    if (this.closed) return;
    if (!this.seam.send(text)) return this.#out.tooSlow(this);
    this.written();
  }

  /**
   * After anything was written to the socket, by `sendText` or by the runtime's topic
   * publish: a reader over the bound is given SLOW_GRACE_MS to catch up, one over
   * SLOW_HARD_FACTOR times the bound is closed now — where the runtime drops frames for a
   * socket over that (Bun's backpressureLimit), this check runs before it can.
   */
  written(): void {
    if (this.closed) return;
    const max = this.#out.maxBufferedBytes;
    const buffered = this.seam.bufferedAmount();
    if (buffered <= max) return;
    if (buffered > max * SLOW_HARD_FACTOR) return this.#out.tooSlow(this);
    this.#slowCheck ??= setTimeout(() => {
      this.#slowCheck = undefined;
      if (!this.closed && this.seam.bufferedAmount() > max) this.#out.tooSlow(this);
    }, SLOW_GRACE_MS);
  }

  /**
   * A `sync` of conv begins: live messages of conv wait until it ends, so the replay and
   * the live stream never interleave.
   */
  replayBegins(conv: string): void {
    const r = (this.#replays ??= new Map()).get(conv);
    if (r) {
      r.running++;
      r.held ??= [];
      return;
    }
    this.#replays.set(conv, { running: 1, held: [], floor: 0 });
    // Until its floor is passed, conv reaches this socket through `live`, not the topic.
    this.seam.unsubscribe?.(conv);
  }

  /** True while conv's live messages must pass `live` (a replay runs, or its floor stands). */
  replaying(conv: string): boolean {
    return this.#replays?.has(conv) ?? false;
  }

  /**
   * A `sync` of conv ended, having sent this connection everything up to `sent`. Once no
   * replay of conv runs, the live messages that waited go out (those after `sent`), and
   * live ones arriving later at or below it are dropped: a message can be stored, and so
   * replayed, before its fan-out reaches this node.
   */
  replayEnds(conv: string, sent: number): void {
    const r = this.#replays?.get(conv);
    if (!r?.held) return;
    r.floor = Math.max(r.floor, sent);
    if (--r.running > 0) return;
    for (const m of r.held) {
      if (m.seq <= r.floor) continue;
      this.#ran(m);
      this.send(msgFrame(m));
      r.floor = m.seq;
    }
    r.held = null;
  }

  /**
   * A message from the node's ordered live stream: true when it is to be written here now,
   * false when a replay holds it or already sent it. The caller writes it (`sendText`).
   */
  admits(m: StoredMessage): boolean {
    const r = this.#replays?.get(m.conv);
    if (r) {
      if (r.held) {
        r.held.push(m);
        return false;
      }
      if (m.seq <= r.floor) return false;
      this.#forget(m.conv);
    }
    this.#ran(m);
    return true;
  }

  /**
   * A message the runtime's topic publish wrote here: remembered as sent live, as `live`
   * does, so a `sync` asked before it reaches the device does not send it again.
   */
  published(m: StoredMessage): void {
    if (this.closed) return;
    this.#ran(m);
    this.written();
  }

  /** True when the live stream already sent this message here: a replay skips it. */
  sentLive(m: StoredMessage): boolean {
    const run = this.#runs?.get(m.conv);
    return run !== undefined && run.first <= m.seq && m.seq <= run.last;
  }

  /** Live messages of a conversation come in increasing seq; a gap starts a new run. */
  #ran(m: StoredMessage): void {
    const runs = (this.#runs ??= new BoundedMap(LIVE_RUNS));
    // Reading it is what keeps it among the recent, so a run extended in place is not set again.
    const run = runs.get(m.conv);
    if (run !== undefined && m.seq === run.last + 1) run.last = m.seq;
    else runs.set(m.conv, { first: m.seq, last: m.seq });
  }

  /**
   * Drops the floors the node's live stream has passed (`delivered`: the last seq it
   * delivered in a conversation), so a long-lived connection keeps none it no longer needs.
   */
  tidyReplays(delivered: (conv: string) => number | undefined): void {
    if (!this.#replays) return;
    for (const [conv, r] of this.#replays) {
      if (!r.held && (delivered(conv) ?? -1) >= r.floor) this.#forget(conv);
    }
  }

  #forget(conv: string): void {
    this.#replays!.delete(conv);
    if (this.#replays!.size === 0) this.#replays = null;
    if (!this.closed) this.seam.subscribe?.(conv);
  }

  text(data: string): void {
    this.#out.text(this, data);
  }

  binary(): void {
    this.#out.binary(this);
  }

  pong(): void {
    this.#out.pong(this);
  }

  ended(code: number): void {
    this.#out.closed(this, code);
  }

  /** Marks it closed; false when it already was (runtimes may report a close twice). */
  markClosed(): boolean {
    if (this.closed) return false;
    this.closed = true;
    clearTimeout(this.#slowCheck);
    return true;
  }
}

interface Run {
  first: number;
  last: number;
}

interface Replay {
  /** Replays of the conversation under way (a client may ask twice at once). */
  running: number;
  /** Live messages waiting for the replays to end; null when none runs. */
  held: StoredMessage[] | null;
  /** The highest seq a replay or the live stream sent: live ones at or below it are repeats. */
  floor: number;
}
