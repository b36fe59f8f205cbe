/**
 * duplex/client: a device's connection to duplex nodes, for browsers, Bun, Deno and Node
 * (Web-standard APIs only; on Node 20 pass the ws package's WebSocket).
 */
export { type ClientEvents, type ConnectionState, DuplexClient, type ReadMark, type StateChange, type Welcome } from "./client.ts";
export { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";
export type { Clock, ClientOptions, WebSocketConstructor, WebSocketLike } from "./options.ts";
export { type Ack, memoryStorage, type OutboxEntry, type OutboxStorage, webStorage } from "./outbox.ts";
export { DuplexError } from "../core/errors.ts";
export type { Conversation, StoredMessage } from "../core/ports/store.ts";
