/**
 * DuplexClient: one device's connection to duplex nodes, doing the client's half of "no
 * silent loss" (CONTRACT §4): an outbox resent until acked, gapless in-order receive with
 * `sync`, read marks, and the HTTP helpers. The link itself (heartbeats, reconnects) is
 * link.ts.
 */
import { DuplexError, duplexError, type ErrorCode } from "../core/errors.ts";
import { handledAll, ID_RULE, isId, type ServerFrame } from "../core/protocol.ts";
import type { Conversation, StoredMessage } from "../core/ports/store.ts";
import { backoffDelay } from "./backoff.ts";
import { Emitter, failure } from "./events.ts";
import { type Endpoints, endpoints, request } from "./http.ts";
import { type ConnectionState, Link, type StateChange, type Welcome } from "./link.ts";
import { type ClientOptions, type Resolved, resolveOptions } from "./options.ts";
import { type Ack, Outbox } from "./outbox.ts";
import { Sequencer } from "./sequencer.ts";
import { Timers } from "./timers.ts";

export type { ConnectionState, StateChange, Welcome };
export type ReadMark = Omit<Extract<ServerFrame, { type: "read" }>, "type">;

export interface ClientEvents {
  /** The next message of a conversation: in seq order, each once, none skipped silently. */
  msg: StoredMessage;
  /** The user marked a conversation read on another device. */
  read: ReadMark;
  /** A send was stored (also for sends restored from the outbox storage, which no promise awaits). */
  ack: Ack;
  state: StateChange;
  error: DuplexError;
}

/** Refusals that mean "later", not "never": the send stays in the outbox. */
const PASSING: ReadonlySet<ErrorCode> = new Set(["unavailable", "rate_limited"]);
/** Replays at once: a reconnect with many conversations must not flood the node. */
const MAX_SYNCS = 8;
const encoder = new TextEncoder();
const badConv = () => duplexError("bad_request", `conv must be ${ID_RULE}`);

export class DuplexClient extends Emitter<ClientEvents> {
  #o: Resolved;
  #at: Endpoints;
  #link: Link;
  #outbox: Outbox;
  #restored: Promise<void>;
  #seq: Sequencer;
  #timers: Timers<"pause">;
  #token: string | null = null;
  #sendRetries = 0;
  #reads = new Map<string, number>();
  #syncQueue = new Set<string>();
  /** Sync frame id → conversation, while its replay runs. */
  #syncIds = new Map<string, string>();
  #syncCount = 0;

  constructor(options: ClientOptions) {
    super();
    this.#o = resolveOptions(options);
    this.#at = endpoints(this.#o.url);
    this.#timers = new Timers(this.#o.clock);
    this.#outbox = new Outbox(this.#o.outbox, (err) => this.emit("error", failure("the outbox storage failed to save", err)));
    this.#restored = this.#outbox.restore().catch((err) => this.emit("error", failure("the outbox storage failed to load", err)));
    this.#seq = new Sequencer({
      emit: (m) => this.emit("msg", m),
      sync: (conv) => this.#wantSync(conv),
      lost: (conv, from, to) =>
        this.emit("error", duplexError("not_found", `conversation ${conv}: messages ${from} to ${to} are no longer stored (history trimmed); continuing after them`)),
      later: (ms, fn) => {
        const handle = this.#o.clock.setTimeout(fn, ms);
        return () => this.#o.clock.clearTimeout(handle);
      },
    }, this.#o.gapGraceMs);
    this.#link = new Link(this.#o, this.#at, async () => {
      await this.#restored;
      return this.#freshToken();
    }, {
      open: () => this.#opened(),
      frame: (f) => this.#frame(f),
      lost: () => this.#lost(),
      state: (change) => {
        if (change.state === "closed") {
          this.#outbox.rejectWaiting(duplexError("unavailable", `the client closed before the ack (${change.reason}); the message stays in the outbox storage`));
        }
        this.emit("state", change);
      },
      error: (err) => this.emit("error", err),
    });
  }

  get state(): ConnectionState {
    return this.#link.state;
  }

  /** The current session, while open. */
  get welcome(): Welcome | null {
    return this.#link.welcome;
  }

  /** Sends not acked yet. */
  get pending(): number {
    return this.#outbox.size;
  }

  /** Conversations followed: learned from messages and acks, track(), listConversations() and createConversation(). */
  conversations(): string[] {
    return this.#seq.conversations();
  }

  /** Highest seq of conv handed to the application; undefined when not followed. */
  position(conv: string): number | undefined {
    return this.#seq.position(conv);
  }

  /** Dials the node and keeps a connection until close(), a `replaced` or a refused token. */
  connect(): void {
    this.#link.start();
  }

  /** Closes for good. Awaited sends are rejected; their entries stay in the outbox storage. */
  close(): void {
    this.#link.stop("closed by the application");
  }

  /** Resolves with the ack (the message is stored), rejects when the node refuses it for good. */
  send(conv: string, body: unknown): Promise<Ack> {
    let entry;
    try {
      const id = newId();
      entry = { id, conv, body: this.#checkSend(id, conv, body), at: this.#o.clock.now() };
    } catch (err) {
      return Promise.reject(err);
    }
    const acked = this.#outbox.add(entry);
    this.#pump();
    return acked;
  }

  /**
   * Follows conv from `after` on (messages up to `after` are known to the application):
   * the node replays the rest, now and after every reconnect. A conversation first met in
   * a frame is followed from 0. Does nothing for a conversation already followed.
   */
  track(conv: string, after = 0): void {
    if (!isId(conv)) throw badConv();
    if (!Number.isSafeInteger(after) || after < 0) throw duplexError("bad_request", "after must be a non-negative integer");
    if (this.#seq.track(conv, after)) this.#wantSync(conv);
  }

  /** Marks conv read up to seq for this user (sent now, or on the next connection). */
  markRead(conv: string, seq: number): void {
    if (!isId(conv)) throw badConv();
    if (!Number.isSafeInteger(seq) || seq < 0) throw duplexError("bad_request", "seq must be a non-negative integer");
    if (seq > (this.#reads.get(conv) ?? -1)) this.#reads.set(conv, seq);
    this.#flushReads();
  }

  /** Stored messages of conv with seq > after, ascending, at most limit (HTTP, members only). */
  async history(conv: string, after = 0, limit = 100): Promise<StoredMessage[]> {
    if (!isId(conv)) throw badConv();
    const url = new URL(`api/conversations/${encodeURIComponent(conv)}/messages`, this.#at.http);
    url.searchParams.set("after", String(after));
    url.searchParams.set("limit", String(limit));
    return (await this.#api<{ messages: StoredMessage[] }>(url, "GET")).messages;
  }

  /**
   * The user's conversations, newest first, at most limit (HTTP). Each one not followed yet
   * is followed from 0, so its history is replayed: track(conv, after) first to start later.
   */
  async listConversations(limit = 100): Promise<Conversation[]> {
    const url = new URL("api/conversations", this.#at.http);
    url.searchParams.set("limit", String(limit));
    const { conversations } = await this.#api<{ conversations: Conversation[] }>(url, "GET");
    for (const conv of conversations) this.track(conv.id, 0);
    return conversations;
  }

  /** Creates a conversation (the caller is always a member) and follows it. */
  async createConversation(members: string[]): Promise<Conversation> {
    const conv = await this.#api<Conversation>(new URL("api/conversations", this.#at.http), "POST", { members });
    this.track(conv.id, 0);
    return conv;
  }

  // -- the link's events

  #opened(): void {
    for (const conv of this.#seq.conversations()) this.#wantSync(conv);
    this.#flushReads();
    this.#pump();
  }

  #lost(): void {
    this.#timers.cancel("pause");
    this.#outbox.resetInFlight();
    this.#seq.reset();
    this.#syncQueue.clear();
    this.#syncIds.clear();
  }

  #frame(f: Exclude<ServerFrame, { type: "welcome" }>): void {
    switch (f.type) {
      case "ack":
        return this.#acked({ id: f.id, conv: f.conv, seq: f.seq });
      case "msg": {
        const m: StoredMessage = { conv: f.conv, seq: f.seq, id: f.id, from: f.from, body: f.body, ts: f.ts };
        // Our own send replayed before its ack arrived proves it stored, as the ack would.
        if (m.from.user === this.#link.welcome?.user && this.#outbox.has(m.id)) return this.#acked(m);
        return this.#seq.receive(m);
      }
      case "synced":
        this.#syncDone(f.conv);
        return this.#seq.synced(f.conv, f.seq);
      case "read":
        return this.emit("read", { conv: f.conv, seq: f.seq, user: f.user, device: f.device });
      case "error":
        return this.#refused(f.code, f.message, f.id);
      case "pong": // the link counted it as a sign of life when it arrived
        return;
      default:
        return handledAll(f);
    }
  }

  #acked(ack: Ack): void {
    this.#sendRetries = 0;
    this.#seq.acked(ack.conv, ack.seq);
    if (this.#outbox.ack(ack)) this.emit("ack", { id: ack.id, conv: ack.conv, seq: ack.seq });
    this.#pump();
  }

  #refused(code: ErrorCode, message: string, id: string | undefined): void {
    const err = duplexError(code, message);
    const syncOf = id === undefined ? undefined : this.#syncIds.get(id);
    if (id !== undefined && this.#outbox.has(id)) {
      if (PASSING.has(code)) {
        this.#outbox.retry(id);
        if (!this.#timers.has("pause")) {
          this.#timers.set("pause", backoffDelay(this.#o.backoff, this.#sendRetries++, this.#o.random), () => this.#pump());
        }
      } else if (!this.#outbox.fail(id, err)) {
        this.emit("error", err);
      }
      this.#pump();
    } else if (syncOf !== undefined) {
      this.#syncDone(syncOf);
      if (PASSING.has(code)) this.#seq.syncFailed(syncOf);
      else {
        this.#seq.forget(syncOf);
        this.emit("error", err);
      }
    } else {
      this.emit("error", err);
    }
  }

  // -- frames to the node

  /** Sends outbox entries while the window has room and the node has not asked to wait. */
  #pump(): void {
    if (!this.#link.welcome || this.#timers.has("pause")) return;
    const room = this.#o.maxInFlight - this.#outbox.inFlight;
    if (room <= 0) return;
    for (const e of this.#outbox.take(room)) this.#link.write({ type: "send", id: e.id, conv: e.conv, body: e.body });
  }

  #wantSync(conv: string): void {
    this.#syncQueue.add(conv);
    this.#pumpSyncs();
  }

  #pumpSyncs(): void {
    if (!this.#link.welcome) return;
    for (const conv of this.#syncQueue) {
      if (this.#syncIds.size >= MAX_SYNCS) return;
      this.#syncQueue.delete(conv);
      const id = `sync-${++this.#syncCount}`;
      this.#syncIds.set(id, conv);
      this.#link.write({ type: "sync", conv, after: this.#seq.syncStarted(conv), id });
    }
  }

  #syncDone(conv: string): void {
    for (const [id, c] of this.#syncIds) {
      if (c === conv) {
        this.#syncIds.delete(id);
        break;
      }
    }
    this.#pumpSyncs();
  }

  #flushReads(): void {
    for (const [conv, seq] of this.#reads) if (this.#link.write({ type: "read", conv, seq })) this.#reads.delete(conv);
  }

  // -- helpers

  /** Refuses what the node would refuse or could not store; returns the body as it will be sent. */
  #checkSend(id: string, conv: string, body: unknown): unknown {
    if (!isId(conv)) throw badConv();
    let frame: string;
    try {
      frame = JSON.stringify({ type: "send", id, conv, body });
    } catch (err) {
      throw duplexError("bad_request", "body must be serializable as JSON", err);
    }
    const sent: { body?: unknown } = JSON.parse(frame);
    if (!("body" in sent)) throw duplexError("bad_request", "body must be a JSON value (not undefined or a function)");
    const bytes = encoder.encode(frame).length;
    if (bytes > this.#o.maxMessageBytes) throw duplexError("too_large", `the send frame is ${bytes} bytes, over maxMessageBytes (${this.#o.maxMessageBytes})`);
    if (!this.#link.running) throw duplexError("unavailable", "the client is closed: call connect() first");
    if (this.#outbox.size >= this.#o.maxOutbox) throw duplexError("rate_limited", `the outbox holds maxOutbox (${this.#o.maxOutbox}) unacked messages; wait for acks`);
    // The parsed copy: a resend carries what was sent even if the caller mutates its object.
    return sent.body;
  }

  async #freshToken(): Promise<string> {
    const t = typeof this.#o.token === "string" ? this.#o.token : await this.#o.token();
    if (typeof t !== "string" || t === "") throw duplexError("bad_request", "the token function must resolve to a non-empty string");
    return (this.#token = t);
  }

  /** One HTTP call; a refused token from a token function is fetched afresh once. */
  async #api<T>(url: URL, method: "GET" | "POST", body?: unknown): Promise<T> {
    const cached = this.#token;
    try {
      return await request<T>(this.#o.fetch, url, cached ?? await this.#freshToken(), method, body);
    } catch (err) {
      const stale = cached !== null && typeof this.#o.token === "function" && err instanceof DuplexError && err.code === "unauthorized";
      if (!stale) throw err;
      return request<T>(this.#o.fetch, url, await this.#freshToken(), method, body);
    }
  }
}

/** A message id: random, so ids from many devices and restarts never meet. */
function newId(): string {
  // randomUUID exists only in secure contexts; a page served over plain http on a LAN has getRandomValues.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
