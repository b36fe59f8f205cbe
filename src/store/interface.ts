/**
 * The two stores a node keeps its shared state in. `memory.ts` holds them in the process
 * (one node); `redis.ts` in Redis (a cluster). Both pass the suites in test/store/.
 * Any method may reject with DuplexError("unavailable") when the backing store is down.
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
   * The record lives for `ttlMs` unless refreshed.
   */
  register(record: SessionRecord, ttlMs: number): Promise<SessionRecord | null>;
  /** Removes the session only if it is still the one registered for its user+device. */
  remove(record: Pick<SessionRecord, "session" | "user" | "device">): Promise<void>;
  /**
   * Heartbeat for a whole node in one call: marks the node alive and extends the TTL of
   * the given sessions it owns by `ttlMs` from now. Sessions not listed are not touched.
   */
  refresh(node: string, sessions: readonly SessionRecord[], ttlMs: number): Promise<void>;
  /** Live sessions of a user; an expired record is never returned (lazy cleanup). */
  byUser(user: string): Promise<SessionRecord[]>;
  /** Live sessions owned by a node. */
  byNode(node: string): Promise<SessionRecord[]>;
  /**
   * Deletes expired sessions and every session of a node whose liveness lapsed
   * (scheduled cleanup). Returns how many were removed. Safe to run on every node at once.
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
   * Sequences and stores messages in the given order, atomically per message: the next
   * `seq` of the conversation (1, 2, 3, … with no gaps), the message and the idempotency
   * record (from.user + id → seq). A repeat of a stored (from.user, id) is not stored
   * again: its original is returned with `duplicate: true`. The caller guarantees that
   * the conversation exists and that it is the only writer of the conversation (the
   * shard owner); concurrent writers still never share a seq.
   */
  append(messages: readonly NewMessage[]): Promise<Appended[]>;
  /** Stored messages with seq > after, ascending, at most `limit`. */
  range(conv: string, after: number, limit: number): Promise<StoredMessage[]>;
  /** The newest seq of the conversation; 0 when it has no messages. */
  lastSeq(conv: string): Promise<number>;
  /** Raises user's read mark in conv to seq (never lowers it); returns the mark now stored. */
  markRead(conv: string, user: string, seq: number): Promise<number>;
  close(): Promise<void>;
}

/** The stores a node runs on, with the health of whatever backs them. */
export interface Stores {
  sessions: SessionStore;
  messages: MessageStore;
  /** Connected and answering; false while the backing store is unreachable. */
  ready(): boolean;
  close(): Promise<void>;
}
