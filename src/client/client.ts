/**
 * DuplexClient: one device's connection to a duplex node, doing the client's half of "no
 * silent loss" (CONTRACT §4): an outbox resent until acked, gapless in-order receive with
 * `sync`, heartbeats that notice a dead link, and reconnects with capped, jittered backoff.
 */
import { DuplexError, duplexError, type ErrorCode } from "../core/errors.ts";
import { type ClientFrame, isId, type ServerFrame } from "../core/protocol.ts";
import type { Conversation, StoredMessage } from "../store/interface.ts";
import { backoffDelay } from "./backoff.ts";
import { Emitter } from "./events.ts";
import { type Endpoints, endpoints, request, upgradeRefusal } from "./http.ts";
import { type ClientOptions, type Resolved, resolveOptions, type WebSocketLike } from "./options.ts";
import { type Ack, Outbox } from "./outbox.ts";
import { Sequencer } from "./sequencer.ts";

export type Welcome = Omit<Extract<ServerFrame, { type: "welcome" }>, "type">;
export type ReadMark = Omit<Extract<ServerFrame, { type: "read" }>, "type">;
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export type StateChange =
  | { state: "connecting" }
  | { state: "open"; welcome: Welcome }
  | { state: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { state: "closed"; reason: string };

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
const REPLACED = 4409;
const MAX_SYNCS = 8;
const encoder = new TextEncoder();

type TimerName = "connect" | "retry" | "ping" | "watchdog" | "pause";

export class DuplexClient extends Emitter<ClientEvents> {
  #o: Resolved;
  #at: Endpoints;
  #outbox: Outbox;
  #restored: Promise<void>;
  #seq: Sequencer;
  #state: ConnectionState = "closed";
  #running = false;
  /** Bumped by connect() and close(), so work begun before either can tell it is stale. */
  #gen = 0;
  #ws: WebSocketLike | null = null;
  #wsUrl = "";
  #opened = false;
  #welcome: Welcome | null = null;
  #device: string | undefined;
  #token: string | null = null;
  #attempt = 0;
  #sendRetries = 0;
  #lastFrameAt = 0;
  #timers = new Map<TimerName, unknown>();
  #reads = new Map<string, number>();
  #syncQueue = new Set<string>();
  #syncIds = new Map<string, string>();
  #syncCount = 0;

  constructor(options: ClientOptions) {
    super();
    this.#o = resolveOptions(options);
    this.#at = endpoints(this.#o.url);
    this.#device = this.#o.device;
    this.#outbox = new Outbox(this.#o.outbox, (err) => this.#fail("the outbox storage failed to save", err));
    this.#restored = this.#outbox.restore().catch((err) => this.#fail("the outbox storage failed to load", err));
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
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The current session, while open. */
  get welcome(): Welcome | null {
    return this.#welcome;
  }

  /** Sends not acked yet. */
  get pending(): number {
    return this.#outbox.size;
  }

  /** Conversations followed: learned from messages, acks, track() and createConversation(). */
  conversations(): string[] {
    return this.#seq.conversations();
  }

  /** Highest seq of conv handed to the application; undefined when not followed. */
  position(conv: string): number | undefined {
    return this.#seq.position(conv);
  }

  /** Dials the node and keeps a connection until close(), a `replaced` or a refused token. */
  connect(): void {
    if (this.#running) return;
    this.#running = true;
    this.#gen++;
    this.#attempt = 0;
    this.#setState({ state: "connecting" });
    void this.#dial();
  }

  /** Closes for good. Awaited sends are rejected; their entries stay in the outbox storage. */
  close(): void {
    this.#stop("closed by the application");
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
    if (!isId(conv)) throw duplexError("bad_request", "conv must be a non-empty string of at most 128 characters");
    if (!Number.isSafeInteger(after) || after < 0) throw duplexError("bad_request", "after must be a non-negative integer");
    if (this.#seq.track(conv, after)) this.#wantSync(conv);
  }

  /** Marks conv read up to seq for this user (sent now, or on the next connection). */
  markRead(conv: string, seq: number): void {
    if (!isId(conv)) throw duplexError("bad_request", "conv must be a non-empty string of at most 128 characters");
    if (!Number.isSafeInteger(seq) || seq < 0) throw duplexError("bad_request", "seq must be a non-negative integer");
    if (seq > (this.#reads.get(conv) ?? -1)) this.#reads.set(conv, seq);
    this.#flushReads();
  }

  /** Stored messages of conv with seq > after, ascending, at most limit (HTTP, members only). */
  async history(conv: string, after = 0, limit = 100): Promise<StoredMessage[]> {
    if (!isId(conv)) throw duplexError("bad_request", "conv must be a non-empty string of at most 128 characters");
    const url = new URL(`api/conversations/${encodeURIComponent(conv)}/messages`, this.#at.http);
    url.searchParams.set("after", String(after));
    url.searchParams.set("limit", String(limit));
    return (await this.#api<{ messages: StoredMessage[] }>(url, "GET")).messages;
  }

  /** Creates a conversation (the caller is always a member) and follows it. */
  async createConversation(members: string[]): Promise<Conversation> {
    const conv = await this.#api<Conversation>(new URL("api/conversations", this.#at.http), "POST", { members });
    this.track(conv.id, 0);
    return conv;
  }

  // -- connection lifecycle

  async #dial(): Promise<void> {
    const gen = this.#gen;
    let token: string;
    try {
      await this.#restored;
      token = await this.#freshToken();
    } catch (err) {
      if (gen !== this.#gen) return;
      this.#fail("could not get an access token", err);
      return this.#retry("no access token");
    }
    if (gen !== this.#gen) return;
    const url = this.#at.ws(token, this.#device);
    let ws: WebSocketLike;
    try {
      ws = new this.#o.WebSocket(url);
    } catch (err) {
      this.#fail("could not open a WebSocket", err);
      return this.#retry("could not open a WebSocket");
    }
    this.#ws = ws;
    this.#wsUrl = url;
    this.#opened = false;
    ws.onopen = () => {
      if (this.#ws === ws) this.#opened = true;
    };
    ws.onmessage = (event: { data: unknown }) => {
      if (this.#ws === ws) this.#frame(event.data);
    };
    ws.onclose = (event: { code: number; reason: string }) => {
      if (this.#ws === ws) void this.#closed(event.code, event.reason);
    };
    // A close event always follows an error; the handler stays so `ws` never throws an unhandled one.
    ws.onerror = () => {};
    this.#timer("connect", this.#o.connectTimeoutMs, () => this.#abandon("no welcome within connectTimeoutMs"));
  }

  async #closed(code: number, reason: string): Promise<void> {
    const { opened, gen, url } = { opened: this.#opened, gen: this.#gen, url: this.#wsUrl };
    this.#detach();
    if (code === REPLACED) return this.#stop(`replaced by a newer connection of this device (${code} ${reason})`);
    if (!opened) {
      const refusal = await upgradeRefusal(this.#o.fetch, url);
      if (gen !== this.#gen) return;
      if (refusal) {
        this.emit("error", refusal);
        return this.#stop(`the node refused the connection: ${refusal.message}`);
      }
    }
    this.#retry(opened ? `closed ${code}${reason ? ` ${reason}` : ""}` : "could not connect");
  }

  /** Gives up on a socket that went silent (or never got going) without waiting for its close. */
  #abandon(reason: string): void {
    this.#detach()?.close(4000, "dead link");
    this.#retry(reason);
  }

  #retry(reason: string): void {
    if (!this.#running) return;
    const delayMs = backoffDelay(this.#o.backoff, this.#attempt++, this.#o.random);
    this.#setState({ state: "reconnecting", attempt: this.#attempt, delayMs, reason });
    this.#timer("retry", delayMs, () => void this.#dial());
  }

  #stop(reason: string): void {
    if (!this.#running && this.#state === "closed") return;
    this.#running = false;
    this.#gen++;
    this.#detach()?.close(1000, "client closed");
    this.#cancel("retry");
    this.#outbox.rejectWaiting(duplexError("unavailable", `the client closed before the ack (${reason}); the message stays in the outbox storage`));
    this.#setState({ state: "closed", reason });
  }

  /** Forgets the socket and everything tied to it; returns it (handlers off) for closing. */
  #detach(): WebSocketLike | null {
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = null;
    for (const name of ["connect", "ping", "watchdog", "pause"] as const) this.#cancel(name);
    this.#welcome = null;
    this.#outbox.resetInFlight();
    this.#seq.reset();
    this.#syncQueue.clear();
    this.#syncIds.clear();
    return ws;
  }

  // -- frames from the node

  #frame(data: unknown): void {
    this.#lastFrameAt = this.#o.clock.now();
    let f: ServerFrame;
    try {
      f = JSON.parse(String(data));
    } catch {
      return this.emit("error", duplexError("bad_request", "the node sent a frame that is not JSON"));
    }
    switch (f.type) {
      case "welcome":
        return this.#welcomed(f);
      case "ack":
        return this.#acked({ id: f.id, conv: f.conv, seq: f.seq });
      case "msg": {
        const m: StoredMessage = { conv: f.conv, seq: f.seq, id: f.id, from: f.from, body: f.body, ts: f.ts };
        // Our own send replayed before its ack arrived proves it stored, as the ack would.
        if (m.from.user === this.#welcome?.user && this.#outbox.has(m.id)) return this.#acked(m);
        return this.#seq.receive(m);
      }
      case "synced":
        this.#syncDone(f.conv);
        return this.#seq.synced(f.conv, f.seq);
      case "read":
        return this.emit("read", { conv: f.conv, seq: f.seq, user: f.user, device: f.device });
      case "error":
        return this.#refused(f.code, f.message, f.id);
    }
  }

  #welcomed({ type: _, ...welcome }: Extract<ServerFrame, { type: "welcome" }>): void {
    this.#cancel("connect");
    this.#welcome = welcome;
    this.#device = welcome.device;
    this.#attempt = 0;
    const beat = this.#o.heartbeatMs ?? welcome.heartbeat;
    const ping = () => {
      this.#write({ type: "ping", ts: this.#o.clock.now() });
      this.#timer("ping", beat, ping);
    };
    this.#timer("ping", beat, ping);
    // Every ping is answered, so two intervals without any frame mean the link is dead.
    const watch = () => {
      const silent = this.#o.clock.now() - this.#lastFrameAt;
      if (silent >= 2 * beat) this.#abandon(`no frame from the node for ${silent} ms (two heartbeats)`);
      else this.#timer("watchdog", 2 * beat - silent, watch);
    };
    this.#timer("watchdog", 2 * beat, watch);
    this.#setState({ state: "open", welcome });
    for (const conv of this.#seq.conversations()) this.#wantSync(conv);
    this.#flushReads();
    this.#pump();
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
        this.#pause();
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

  #write(frame: ClientFrame): boolean {
    const ws = this.#ws;
    if (!ws || !this.#welcome || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends outbox entries while the window has room and the node has not asked to wait. */
  #pump(): void {
    if (!this.#welcome || this.#timers.has("pause")) return;
    const room = this.#o.maxInFlight - this.#outbox.inFlight;
    if (room <= 0) return;
    for (const e of this.#outbox.take(room)) this.#write({ type: "send", id: e.id, conv: e.conv, body: e.body });
  }

  #pause(): void {
    if (this.#timers.has("pause")) return;
    this.#timer("pause", backoffDelay(this.#o.backoff, this.#sendRetries++, this.#o.random), () => this.#pump());
  }

  #wantSync(conv: string): void {
    this.#syncQueue.add(conv);
    this.#pumpSyncs();
  }

  /** At most MAX_SYNCS replays at once, so a reconnect with many conversations cannot flood. */
  #pumpSyncs(): void {
    if (!this.#welcome) return;
    for (const conv of this.#syncQueue) {
      if (this.#syncIds.size >= MAX_SYNCS) return;
      this.#syncQueue.delete(conv);
      const id = `sync-${++this.#syncCount}`;
      this.#syncIds.set(id, conv);
      this.#write({ type: "sync", conv, after: this.#seq.syncStarted(conv), id });
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
    for (const [conv, seq] of this.#reads) if (this.#write({ type: "read", conv, seq })) this.#reads.delete(conv);
  }

  // -- helpers

  /** Refuses what the node would refuse or could not store; returns the body as it will be sent. */
  #checkSend(id: string, conv: string, body: unknown): unknown {
    if (!isId(conv)) throw duplexError("bad_request", "conv must be a non-empty string of at most 128 characters");
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
    if (!this.#running) throw duplexError("unavailable", "the client is closed: call connect() first");
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

  #fail(what: string, cause: unknown): void {
    const err = cause instanceof DuplexError ? cause : duplexError("unavailable", `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
    this.emit("error", err);
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    this.emit("state", change);
  }

  #timer(name: TimerName, ms: number, fn: () => void): void {
    this.#cancel(name);
    const handle = this.#o.clock.setTimeout(() => {
      if (this.#timers.get(name) === handle) this.#timers.delete(name);
      fn();
    }, ms);
    this.#timers.set(name, handle);
  }

  #cancel(name: TimerName): void {
    if (!this.#timers.has(name)) return;
    this.#o.clock.clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }
}

/** A message id: random, so ids from many devices and restarts never meet. */
function newId(): string {
  // randomUUID exists only in secure contexts; a page served over plain http on a LAN has getRandomValues.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
