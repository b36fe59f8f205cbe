/**
 * One client connection as the hub keeps it: its session, its socket seam, its limits, and
 * the way frames leave for it — where a reader that stops reading is caught before its
 * unsent frames grow without bound.
 */
import type { SessionRecord, StoredMessage } from "../store/interface.ts";
import type { HubMetrics } from "./metrics.ts";
import { encode, type ServerFrame } from "./protocol.ts";
import { RateLimiter } from "./rate.ts";
import type { SocketSeam } from "./socket.ts";

/** How long a send buffer may stay over the bound: runtimes that write asynchronously
 * (Deno) report a burst sent in one turn as buffered until the event loop runs. */
const SLOW_GRACE_MS = 250;
/** Over this many times the bound a reader is closed at once: memory comes first. */
const SLOW_HARD_FACTOR = 8;

export interface Outbound {
  maxBufferedBytes: number;
  metrics: HubMetrics;
  /** Called once for a reader too slow to keep: dropping its frames would be silent loss. */
  tooSlow(conn: Connection): void;
}

export class Connection {
  readonly record: SessionRecord;
  readonly seam: SocketSeam;
  readonly limiter: RateLimiter;
  lastSeen: number;
  /** Set once the heartbeat has pinged it: only then does silence mean death. */
  pingable = false;
  closed = false;
  /** Conversations being replayed by `sync`: live messages wait here meanwhile. */
  syncing: Map<string, StoredMessage[]> | null = null;
  #out: Outbound;
  /** Pending second look at a send buffer found over the bound. */
  #slowCheck: ReturnType<typeof setTimeout> | undefined;

  constructor(record: SessionRecord, seam: SocketSeam, rate: number, out: Outbound) {
    this.record = record;
    this.seam = seam;
    this.limiter = new RateLimiter(rate, record.connectedAt);
    this.lastSeen = record.connectedAt;
    this.#out = out;
  }

  send(frame: ServerFrame): void {
    this.#out.metrics.frameOut(frame.type);
    this.sendText(encode(frame));
  }

  /** An encoded frame, for one text sent to many connections. */
  sendText(text: string): void {
    if (this.closed) return;
    if (!this.seam.send(text)) return this.#out.tooSlow(this);
    const max = this.#out.maxBufferedBytes;
    const buffered = this.seam.bufferedAmount();
    if (buffered <= max) return;
    if (buffered > max * SLOW_HARD_FACTOR) return this.#out.tooSlow(this);
    this.#slowCheck ??= setTimeout(() => {
      this.#slowCheck = undefined;
      if (!this.closed && this.seam.bufferedAmount() > max) this.#out.tooSlow(this);
    }, SLOW_GRACE_MS);
  }

  /** Marks it closed; false when it already was (runtimes may report a close twice). */
  markClosed(): boolean {
    if (this.closed) return false;
    this.closed = true;
    clearTimeout(this.#slowCheck);
    return true;
  }
}
