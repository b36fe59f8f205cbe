/**
 * The two stores a node keeps its shared state in. `memory.ts` holds them in the process
 * (one node); `redis.ts` in Redis (a cluster). Both pass the suites in test/store/.
 * Any method may reject with DuplexError("unavailable") when the backing store is down, and
 * rejects with DuplexError("bad_request") a user, device, conversation or message id that is
 * not an id (isId in core/protocol.ts; ids.ts), the same way in every store.
 */

export interface SessionRecord {
  session: string;
  user: string;
  device: string;
  node: string;
  connectedAt: number;
  /** Last time the owning node vouched for this session (heartbeat), ms since epoch. */
  lastSeen: number;
}

/** Who is connected where, on which device. */
export interface SessionStore {
  /**
   * Records a session. At most one session exists per user+device: an older one is
   * replaced atomically and returned so its node can close it; null when there was none.
   * The record lives for `ttlMs` unless refreshed. Registering is also a sign of life of
   * `record.node`: the node counts as alive at least until this record expires.
   */
  register(record: SessionRecord, ttlMs: number): Promise<SessionRecord | null>;
  /** Removes the session only if it is still the one registered for its user+device. */
  remove(record: Pick<SessionRecord, "session" | "user" | "device">): Promise<void>;
  /**
   * Heartbeat for a whole node in one call: marks the node alive for `ttlMs` from now and
   * sets the TTL of the given sessions it owns to `ttlMs` from now (and their lastSeen to
   * now). A listed session whose record expired or was swept (its socket outlived an
   * outage of the store) is written again; one whose device another session has taken is
   * not touched, nor are sessions not listed. So list only sockets still open.
   */
  refresh(node: string, sessions: readonly SessionRecord[], ttlMs: number): Promise<void>;
  /** Live sessions of a user; an expired record is never returned (lazy cleanup). */
  byUser(user: string): Promise<SessionRecord[]>;
  /** Live sessions owned by a node. */
  byNode(node: string): Promise<SessionRecord[]>;
  /**
   * Deletes expired sessions and every session of a node whose liveness lapsed
   * (scheduled cleanup); a lapsed node is then forgotten until it registers or refreshes
   * again. Returns how many sessions were removed (a session removed or replaced before
   * is not counted). Safe to run on every node at once: each removal is counted once.
   */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

export interface Conversation {
  id: string;
  members: string[];
}

export interface StoredMessage {
  conv: string;
  seq: number;
  /** The client-chosen id of the `send`, unique per user. */
  id: string;
  from: { user: string; device: string };
  body: unknown;
  /** ms since epoch, set when the message was sequenced. */
  ts: number;
}

export type NewMessage = Omit<StoredMessage, "seq" | "ts">;

export interface Appended {
  message: StoredMessage;
  /** True when (from.user, id) had been stored before: `message` is the original. */
  duplicate: boolean;
}

/** Conversations, their sequence numbers and history, and read marks. */
export interface MessageStore {
  /** Creates a conversation with these (deduplicated, non-empty) members. */
  createConversation(members: readonly string[]): Promise<Conversation>;
  /** null when no such conversation exists. Members never change after creation. */
  conversation(id: string): Promise<Conversation | null>;
  /**
   * The conversations `user` is a member of, newest first, at most `limit`; [] for a user
   * in none. Each is listed for every member once createConversation has resolved (two
   * created in the same millisecond may come in either order).
   */
  conversationsOf(user: string, limit: number): Promise<Conversation[]>;
  /**
   * For each of `others`, in order, whether it shares at least one conversation with `user`;
   * `user` itself always counts as shared (presence: CONTRACT §2).
   */
  shareConversation(user: string, others: readonly string[]): Promise<boolean[]>;
  /**
   * Sequences and stores messages in the given order, atomically per message: the next
   * `seq` of the conversation (1, 2, 3, … with no gaps), the message and the idempotency
   * record (conv + from.user + id → seq). A repeat of a stored (from.user, id) in the same
   * conversation is not stored again: its original is returned with `duplicate: true`.
   * Idempotency records are kept as long as their message is retained (historyLimit).
   * The caller guarantees that the conversation exists (else: not_found, and messages of
   * other conversations in the batch may be stored) and is normally its only writer (the
   * shard owner); concurrent writers still never share a seq.
   */
  append(messages: readonly NewMessage[]): Promise<Appended[]>;
  /**
   * Stored messages with seq > after, ascending, at most `limit`; [] for an unknown
   * conversation. History is trimmed to the newest `historyLimit` messages, so when
   * `after` is older than that the result starts at the oldest retained message.
   */
  range(conv: string, after: number, limit: number): Promise<StoredMessage[]>;
  /** The newest seq of the conversation; 0 when it has no messages. */
  lastSeq(conv: string): Promise<number>;
  /**
   * Raises user's read mark in conv to seq (never lowers it); returns the mark now stored.
   * Rejects not_found for an unknown conversation.
   */
  markRead(conv: string, user: string, seq: number): Promise<number>;
  /**
   * Deletes the conversation with its history, idempotency records and read marks, and
   * takes it off every member's list; false when there was no such conversation. Afterwards
   * it reads as unknown (null, [], seq 0; append and markRead reject not_found). Safe to
   * repeat: a call that failed half way is completed by the next.
   */
  deleteConversation(id: string): Promise<boolean>;
  /**
   * Counts one more delivery of the queued submit `ref` and returns the count so far: for
   * shard queues that count none themselves (classic RabbitMQ queues), so a message that
   * takes every owner down is still dead-lettered. A count lapses a day after its last one.
   */
  countDelivery(ref: string): Promise<number>;
  close(): Promise<void>;
}

/** The stores a node runs on, with the health of whatever backs them. */
export interface Stores {
  sessions: SessionStore;
  messages: MessageStore;
  /** Connected and answering; false while the backing store is unreachable. */
  ready(): boolean;
  /** How many times the backing connection came back after it was lost (0 in memory). */
  reconnects(): number;
  close(): Promise<void>;
}
