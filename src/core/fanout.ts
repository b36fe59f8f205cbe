/**
 * The broker's sequenced messages, on their way to this node's sockets: in order per
 * conversation (OrderedDelivery), to every local device of every member but the sending
 * one, encoded once for all of them.
 *
 * Where the runtime publishes natively (Bun), a conversation is a topic: one publish writes
 * the frame to every subscribed socket in native code, where a write per socket from
 * JavaScript was most of the fan-out's cost. A socket replaying the conversation (`sync`)
 * leaves its topic until its replay floor is passed and gets its messages through `live`,
 * which holds or drops them per device as on every other runtime.
 */
import type { Sequenced } from "./ports/broker.ts";
import type { Conversation, MessageStore, StoredMessage } from "./ports/store.ts";
import type { Connection } from "./connection.ts";
import type { Conversations } from "./conversations.ts";
import { OrderedDelivery } from "./delivery.ts";
import { errorFields, type Logger } from "./log.ts";
import { BoundedMap } from "./lru.ts";
import type { HubMetrics } from "./metrics.ts";
import { encode, msgFrame } from "./protocol.ts";
import type { Publish } from "./socket.ts";

export interface FanoutDeps {
  store: MessageStore;
  /** This node's open connections by user. */
  byUser: ReadonlyMap<string, readonly Connection[]>;
  /** The node's conversations, kept once read: members never change. */
  conversations: Pick<Conversations, "get" | "known">;
  metrics: HubMetrics;
  log: Logger;
  now(): number;
  /** A message that cannot be encoded is skipped: logged and counted once per node. */
  unencodable(m: StoredMessage): void;
  publish?: Publish;
}

/** Conversations whose topic subscriptions this node remembers as complete. */
const SUBSCRIBED = 100_000;

export class Fanout {
  #d: FanoutDeps;
  #delivery: OrderedDelivery;
  /** Bumped when a socket opens: every conversation's subscriptions must be looked at again. */
  #epoch = 0;
  /** conv → the epoch at which every local member socket (but replaying ones) was subscribed. */
  #subscribed = new BoundedMap<string, number>(SUBSCRIBED);

  constructor(deps: FanoutDeps) {
    this.#d = deps;
    this.#delivery = new OrderedDelivery(deps.store, (m) => this.#fanIn(m), deps.log);
  }

  deliver(item: Sequenced): void {
    const m = item.message;
    // A repeat carries a seq fanned out before, unless that fan-out was lost (a store reply
    // that timed out, then a retry): where this node follows the conversation, delivery
    // drops it if it was delivered and delivers it if not.
    if (item.duplicate && this.#delivery.delivered(m.conv) === undefined) return;
    const known = this.#d.conversations.known(m.conv);
    if (known) {
      this.#follow(known, m);
      return;
    }
    // Every delivery of one conversation hangs off the same promise, so order survives the await.
    this.#d.conversations.get(m.conv).then(
      (c) => this.#follow(c, m),
      (err) => {
        this.#skipped(m, err);
        this.#delivery.skip(m);
      },
    );
  }

  /**
   * Hands m on to ordered delivery, or passes its seq where no local device wants it. Nothing
   * here may throw to the broker, which would fail the submits of m's whole batch, nor end
   * the process as an unhandled rejection.
   */
  #follow(c: Conversation | null, m: StoredMessage): void {
    try {
      if (c && this.#hasLocal(c)) this.#delivery.push(m);
      else this.#delivery.skip(m);
    } catch (err) {
      this.#failed(m, err);
    }
  }

  /** A socket opened: it joins its conversations' topics at their next message. */
  joined(): void {
    this.#epoch++;
  }

  /** The last seq delivered (or passed) in conv; undefined when conv is not followed here. */
  delivered(conv: string): number | undefined {
    return this.#delivery.delivered(conv);
  }

  #hasLocal(c: Conversation): boolean {
    const { byUser } = this.#d;
    return byUser.size > 0 && c.members.some((u) => byUser.has(u));
  }

  #fanIn(m: StoredMessage): void {
    const known = this.#d.conversations.known(m.conv);
    if (known) {
      this.#write(known, m);
      return;
    }
    this.#d.conversations.get(m.conv).then((c) => { if (c) this.#write(c, m); }, (err) => this.#skipped(m, err));
  }

  /** Writes m to every local device of c's members but the sending one; as #follow, it throws nothing. */
  #write(c: Conversation, m: StoredMessage): void {
    try {
      this.#writeAll(c, m);
    } catch (err) {
      this.#failed(m, err);
    }
  }

  #writeAll(c: Conversation, m: StoredMessage): void {
    // Encoded at once where the runtime publishes; elsewhere when the first socket needs it,
    // so never where every local device is replaying.
    let text: string | null | undefined;
    const sender = this.#sender(c, m);
    const publish = this.#d.publish;
    let published = false;
    if (publish && (text = encode(msgFrame(m))) !== null) {
      this.#subscribe(c);
      publish(c.id, text, sender?.seam);
      published = true;
    }
    let sent = 0;
    for (const user of c.members) {
      const conns = this.#d.byUser.get(user);
      if (!conns) continue;
      for (const conn of conns) {
        if (user === m.from.user && conn.record.device === m.from.device) continue;
        if (published && !conn.replaying(c.id)) {
          conn.published(m);
          sent++;
        } else if (conn.admits(m)) {
          if (text === undefined) text = encode(msgFrame(m));
          if (text === null) continue;
          conn.sendText(text);
          sent++;
        }
      }
    }
    if (text === null) this.#d.unencodable(m);
    if (sent > 0) {
      this.#d.metrics.frameOut("msg", sent);
      this.#d.metrics.delivered(this.#d.now() - m.ts);
    }
  }

  #failed(m: StoredMessage, err: unknown): void {
    this.#d.log.error("fan-out of a message failed", { conv: m.conv, seq: m.seq, ...errorFields(err) });
  }

  /** The sending device's socket, when it is on this node. */
  #sender(c: Conversation, m: StoredMessage): Connection | undefined {
    for (const conn of this.#d.byUser.get(m.from.user) ?? []) if (conn.record.device === m.from.device) return conn;
    return undefined;
  }

  /** Makes sure every local socket of c's members that is not replaying c is in c's topic. */
  #subscribe(c: Conversation): void {
    if (this.#subscribed.get(c.id) === this.#epoch) return;
    for (const user of c.members) {
      for (const conn of this.#d.byUser.get(user) ?? []) if (!conn.closed && !conn.replaying(c.id)) conn.seam.subscribe!(c.id);
    }
    this.#subscribed.set(c.id, this.#epoch);
  }

  #skipped(m: StoredMessage, err: unknown): void {
    this.#d.log.warn("delivery skipped: conversation unreadable", { conv: m.conv, seq: m.seq, ...errorFields(err) });
  }
}
