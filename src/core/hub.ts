/**
 * The hub: this node's connections, the protocol on them, and the broker's callbacks
 * into them. Everything here is Web-standard; sockets come through SocketSeam.
 */
import type { Broker, BrokerHandlers, ControlEvent } from "./ports/broker.ts";
import type { Conversation, SessionRecord, Stores } from "./ports/store.ts";
import { Conversations } from "./conversations.ts";
import { Fanout } from "./fanout.ts";
import { asDuplexError, type DuplexError, duplexError } from "./errors.ts";
import { heartbeatFigures } from "./heartbeat-figures.ts";
import { errorFields, type Fields, type Logger } from "./log.ts";
import { type HubMetrics, NO_METRICS } from "./metrics.ts";
import { type ClientFrame, encode, errorFrame, FrameError, handledAll, msgFrame, parseClientFrame } from "./protocol.ts";
import { Connection, type Outbound } from "./connection.ts";
import { RateLimit } from "./rate.ts";
import { CLOSE, type Publish, type SocketEvents, type SocketSeam } from "./socket.ts";
import { stamp } from "./stages.ts";

export interface HubOptions {
  nodeId: string;
  heartbeatMs: number;
  rate: number;
  /** DUPLEX_MAX_BODY_DEPTH (default DEFAULT_MAX_BODY_DEPTH). */
  maxBodyDepth?: number;
  maxBufferedBytes: number;
  stores: Stores;
  broker: Broker;
  log: Logger;
  metrics?: HubMetrics;
  now?: () => number;
  /** The runtime's native fan-out, where it has one (Bun). */
  publish?: Publish;
}

const SYNC_PAGE = 500;

export class Hub {
  readonly nodeId: string;
  readonly heartbeatMs: number;
  #o: HubOptions;
  #m: HubMetrics;
  #outbound: Outbound;
  #now: () => number;
  /**
   * Each user's local connections. An array, replaced rather than changed: most users have
   * one or two devices, an array of them costs a fraction of a Set, and a fan-out iterating
   * an old array is not disturbed by a connection that closes meanwhile.
   */
  #byUser = new Map<string, readonly Connection[]>();
  #bySession = new Map<string, Connection>();
  #convs: Conversations;
  #fanout: Fanout;
  /**
   * A submit's ref: unique across nodes and restarts by its random prefix, one per hub, and
   * within this hub by its counter. A UUID per send cost a busy node 2% of its CPU.
   */
  #refPrefix = `${crypto.randomUUID()}.`;
  #refs = 0;

  constructor(options: HubOptions) {
    this.#o = options;
    this.nodeId = options.nodeId;
    this.heartbeatMs = options.heartbeatMs;
    this.#now = options.now ?? Date.now;
    this.#m = options.metrics ?? NO_METRICS;
    this.#convs = new Conversations(options.stores.messages);
    this.#outbound = {
      maxBufferedBytes: options.maxBufferedBytes, limit: new RateLimit(options.rate), metrics: this.#m, tooSlow: (conn) => this.#tooSlow(conn),
      unencodable: (conn, frame) => this.unencodable({
        session: conn.record.session, type: frame.type, ...("conv" in frame ? { conv: frame.conv } : {}), ...("seq" in frame ? { seq: frame.seq } : {}),
      }),
      text: (conn, data) => conn.welcomed ? void conn.welcomed.then(() => this.#text(conn, data)) : this.#text(conn, data),
      binary: (conn) => this.shut(conn, CLOSE.unsupported, "binary frames are not supported"),
      pong: (conn) => { conn.lastSeen = this.#now(); },
      closed: (conn, code) => void this.#closed(conn, code),
    };
    this.#fanout = new Fanout({
      store: options.stores.messages, byUser: this.#byUser, conversations: this.#convs,
      metrics: this.#m, log: options.log, now: this.#now, publish: options.publish, unencodable: (m) => this.unencodable({ type: "msg", conv: m.conv, seq: m.seq }),
    });
  }

  get connections(): number {
    return this.#bySession.size;
  }

  /** What the broker calls on this node; it sequences through the store, not through the hub. */
  handlers(): Pick<BrokerHandlers, "deliver" | "control" | "deadLettered"> {
    return {
      deliver: (item) => this.#fanout.deliver(item),
      control: (event) => this.#control(event),
      deadLettered: (poison) => {
        this.#m.deadLettered();
        this.#o.log.warn("message refused for good and set aside", { ...poison });
      },
    };
  }

  /**
   * Something that could not be encoded (a body nested past the runtime's stack, stored
   * before the depth limit) was skipped: the node serves on, and the operator hears of it.
   */
  unencodable(fields: Fields): void {
    this.#m.unencodable();
    this.#o.log.warn("skipped what could not be encoded", fields);
  }

  /** Adopts an upgraded socket: register, welcome, and the handlers for its events. */
  open(seam: SocketSeam, who: { user: string; device: string; ip?: string | null }): SocketEvents {
    const now = this.#now();
    const record: SessionRecord = {
      session: crypto.randomUUID(), user: who.user, device: who.device, node: this.nodeId, connectedAt: now, lastSeen: now,
    };
    const conn = new Connection(record, seam, this.#outbound);
    this.#bySession.set(record.session, conn);
    this.#m.connected();
    this.#o.log.info("connected", { session: record.session, user: record.user, device: record.device, ip: who.ip ?? null });
    // Registered before welcome: a client that saw welcome and connects the same device again
    // is registered after it, so the newer session is the one that stays. Until then the
    // socket gets nothing (welcome comes first) and its frames wait, in order.
    conn.welcomed = this.#register(conn).finally(() => { conn.welcomed = null; });
    return conn;
  }

  /** Closes a connection with a code and forgets it. */
  shut(conn: Connection, code: number, reason: string): void {
    if (conn.closed) return;
    conn.seam.close(code, reason);
    void this.#closed(conn, code);
  }

  /** Every local connection, for heartbeats and shutdown. */
  all(): Iterable<Connection> {
    return this.#bySession.values();
  }

  /** The last seq this node delivered in conv; undefined when it has not followed conv. */
  delivered(conv: string): number | undefined {
    return this.#fanout.delivered(conv);
  }

  #ref(): string {
    return this.#refPrefix + (this.#refs++).toString(36);
  }

  /** Conversation if it exists and `user` is a member; forbidden / not_found otherwise. */
  async member(conv: string, user: string): Promise<Conversation> {
    return this.#convs.member(conv, user);
  }

  /**
   * Deletes a conversation `user` is a member of (forbidden / not_found otherwise). Other
   * nodes may hold it cached a while: sends there are refused not_found by the store.
   */
  async deleteConversation(conv: string, user: string): Promise<void> {
    await this.member(conv, user);
    await this.#o.stores.messages.deleteConversation(conv);
    this.#convs.forget(conv);
  }

  async #register(conn: Connection): Promise<void> {
    const { record } = conn;
    let replaced: SessionRecord | null;
    try {
      replaced = await this.#o.stores.sessions.register(record, this.#ttl());
    } catch (err) {
      this.#o.log.warn("session registration failed", { session: record.session, user: record.user, ...errorFields(err) });
      this.shut(conn, CLOSE.tryAgain, "session store unavailable");
      return;
    }
    if (conn.closed) {
      await this.#o.stores.sessions.remove(record).catch(() => {});
      return;
    }
    conn.send({ type: "welcome", session: record.session, user: record.user, device: record.device, node: this.nodeId, heartbeat: this.heartbeatMs });
    this.#byUser.set(record.user, [...this.#byUser.get(record.user) ?? [], conn]);
    this.#fanout.joined();
    if (replaced) void this.#replaced(replaced);
  }

  async #replaced(replaced: SessionRecord): Promise<void> {
    const local = this.#bySession.get(replaced.session);
    if (local) return this.shut(local, CLOSE.replaced, "replaced");
    // The new session stands either way; an old one we cannot reach dies with its heartbeat.
    await this.#o.broker.publish({ type: "kick", node: replaced.node, session: replaced.session }).catch((err) =>
      this.#o.log.warn("could not reach the node of a replaced session", { session: replaced.session, node: replaced.node, ...errorFields(err) })
    );
  }

  #ttl(): number {
    return heartbeatFigures(this.heartbeatMs).sessionTtlMs;
  }

  #text(conn: Connection, data: string): void {
    if (conn.closed) return;
    conn.lastSeen = this.#now();
    const verdict = conn.take(conn.lastSeen);
    if (verdict === "abuse") {
      this.shut(conn, CLOSE.policy, "rate limit exceeded");
      return;
    }
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(data, this.#o.maxBodyDepth);
    } catch (err) {
      this.#refuse(conn, err as FrameError);
      return;
    }
    this.#m.frameIn(frame.type);
    if (verdict === "limited") {
      this.#refuse(conn, duplexError("rate_limited", `more than ${this.#o.rate} frames per second`), frame);
      return;
    }
    this.#handle(conn, frame).catch((err) => this.#refuse(conn, asDuplexError(err), frame));
  }

  async #handle(conn: Connection, frame: ClientFrame): Promise<void> {
    const { user, device } = conn.record;
    switch (frame.type) {
      case "ping":
        conn.send(frame.ts === undefined ? { type: "pong" } : { type: "pong", ts: frame.ts });
        return;
      case "send": {
        const received = this.#now();
        const c = this.#convs.memberNow(frame.conv, user);
        if (c instanceof Promise) await c;
        const done = await this.#o.broker.submit({
          origin: this.nodeId, ref: this.#ref(), message: { conv: frame.conv, id: frame.id, from: conn.from, body: frame.body },
        });
        conn.send({ type: "ack", id: frame.id, conv: done.message.conv, seq: done.message.seq });
        this.#m.ack(this.#now() - received);
        if (done.heardAt !== undefined) this.#m.stage("ack", stamp() - done.heardAt);
        return;
      }
      case "sync":
        await this.member(frame.conv, user);
        await this.#sync(conn, frame.conv, frame.after);
        return;
      case "read": {
        await this.member(frame.conv, user);
        const seq = await this.#o.stores.messages.markRead(frame.conv, user, frame.seq);
        await this.#o.broker.publish({ type: "read", conv: frame.conv, user, device, seq });
        return;
      }
      default:
        return handledAll(frame);
    }
  }

  /**
   * Replays stored messages but those the live stream sent this connection already; live
   * ones for conv wait until the replay is through.
   */
  async #sync(conn: Connection, conv: string, after: number): Promise<void> {
    conn.replayBegins(conv);
    let last = after;
    let sent = 0;
    try {
      for (;;) {
        const page = await this.#o.stores.messages.range(conv, last, SYNC_PAGE);
        for (const m of page) if (!conn.sentLive(m)) conn.send(msgFrame(m));
        if (page.length > 0) last = sent = page[page.length - 1].seq;
        if (page.length < SYNC_PAGE || conn.closed) break;
      }
      const stored = await this.#o.stores.messages.lastSeq(conv);
      // What the client said it has counts as sent, as far as it exists.
      sent = Math.max(sent, Math.min(after, stored));
      conn.send({ type: "synced", conv, seq: Math.max(last, stored) });
    } finally {
      conn.replayEnds(conv, sent);
    }
  }

  #control(event: ControlEvent): void {
    if (event.type === "kick") {
      if (event.node !== this.nodeId) return;
      const conn = this.#bySession.get(event.session);
      if (conn) this.shut(conn, CLOSE.replaced, "replaced");
      return;
    }
    const conns = this.#byUser.get(event.user);
    if (!conns) return;
    const text = encode({ type: "read", conv: event.conv, seq: event.seq, user: event.user, device: event.device });
    if (text === null) return;
    for (const conn of conns) {
      if (conn.record.device === event.device) continue;
      this.#m.frameOut("read");
      conn.sendText(text);
    }
  }

  #refuse(conn: Connection, err: DuplexError, frame?: ClientFrame): void {
    this.#m.refused(err.code);
    const { session, user } = conn.record;
    const conv = frame && "conv" in frame ? frame.conv : undefined;
    // The node's trouble is the operator's business; a client's mistakes only when debugging.
    this.#o.log[err.code === "unavailable" || err.code === "unprocessable" ? "warn" : "debug"]("frame refused", { session, user, conv, ...errorFields(err) });
    conn.send(errorFrame(err, frame?.id));
  }

  /** Counts a refusal answered over HTTP (before or instead of an upgrade). */
  refusedRequest(err: DuplexError): void {
    this.#m.refused(err.code);
  }

  /** Dropping frames would be silent loss; closing makes the client reconnect and sync. */
  #tooSlow(conn: Connection): void {
    if (conn.closed) return;
    this.#o.log.warn("slow consumer closed", { session: conn.record.session, user: conn.record.user });
    this.#m.slowClosed();
    this.shut(conn, CLOSE.tryAgain, "too slow: reconnect and sync");
  }

  /**
   * Closes every local socket, spread evenly over `windowMs` so that clients do not all
   * reconnect in the same second, and waits until their sessions are out of the store.
   */
  async closeAll(code: number, reason: string, windowMs = 0): Promise<void> {
    const conns = [...this.#bySession.values()];
    await Promise.all(conns.map(async (conn, i) => {
      if (windowMs > 0) await new Promise((r) => setTimeout(r, (windowMs * i) / conns.length));
      if (conn.closed) return;
      conn.seam.close(code, reason);
      await this.#closed(conn, code);
    }));
  }

  #closed(conn: Connection, code: number): Promise<void> {
    if (!conn.markClosed()) return Promise.resolve();
    this.#m.disconnected(code);
    this.#o.log.info("disconnected", { session: conn.record.session, user: conn.record.user, device: conn.record.device, code });
    this.#bySession.delete(conn.record.session);
    const others = this.#byUser.get(conn.record.user)?.filter((c) => c !== conn) ?? [];
    if (others.length > 0) this.#byUser.set(conn.record.user, others);
    else this.#byUser.delete(conn.record.user);
    return this.#o.stores.sessions.remove(conn.record).catch((err) =>
      this.#o.log.warn("session removal failed; its TTL will expire it", { session: conn.record.session, ...errorFields(err) })
    );
  }
}
