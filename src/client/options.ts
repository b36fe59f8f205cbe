/**
 * What a DuplexClient is configured with, and the checks that name the option at fault.
 * Everything the client touches outside itself (socket, HTTP, time, randomness) comes in
 * here, so any runtime, and any test, can supply its own.
 */
import { duplexError } from "../core/errors.ts";
import { ID_RULE, isId } from "../core/protocol.ts";
import { type BackoffPolicy, checkBackoff, DEFAULT_BACKOFF } from "./backoff.ts";
import type { Fetch } from "./http.ts";
import { memoryStorage, type OutboxStorage } from "./outbox.ts";

/** Timers and time; defaults to the global ones. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The part of the standard WebSocket the client uses. Browsers, Bun and Deno have it
 * globally; on Node 20 pass the `WebSocket` of the `ws` package. Event parameters are
 * `any` because the DOM, ws and Deno each type their events differently.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** The node: http(s) or ws(s), optionally with a path prefix ("https://chat.example/duplex/"). */
  url: string;
  /** An access token, or a function asked for a fresh one before every (re)connect. */
  token: string | (() => Promise<string>);
  /** This device's stable id (CONTRACT §4). Unset: the node assigns one, reused on reconnects. */
  device?: string;
  /** Overrides the ping interval the node announces in `welcome`, ms. */
  heartbeatMs?: number;
  /** Longest wait from dialing to `welcome` before the attempt counts as failed, ms. Default 10000. */
  connectTimeoutMs?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Where unacked sends survive the client. Default: memory only. */
  outbox?: OutboxStorage;
  /** Most unacked sends kept; send() beyond it is refused. Default 1000. */
  maxOutbox?: number;
  /** Most sends on the wire without an answer, which keeps resends under the node's rate limit. Default 64. */
  maxInFlight?: number;
  /** Largest `send` frame, bytes; keep it at or below the node's DUPLEX_MAX_MESSAGE_BYTES. Default 65536. */
  maxMessageBytes?: number;
  /** How long a hole in a conversation may wait for a frame still on its way before a `sync`, ms. Default 1000. */
  gapGraceMs?: number;
  WebSocket?: WebSocketConstructor;
  fetch?: Fetch;
  clock?: Clock;
  /** Uniform in [0, 1); drives the backoff jitter. Default Math.random. */
  random?: () => number;
}

export interface Resolved {
  url: string;
  token: string | (() => Promise<string>);
  device: string | undefined;
  heartbeatMs: number | undefined;
  connectTimeoutMs: number;
  backoff: BackoffPolicy;
  outbox: OutboxStorage;
  maxOutbox: number;
  maxInFlight: number;
  maxMessageBytes: number;
  gapGraceMs: number;
  WebSocket: WebSocketConstructor;
  fetch: Fetch;
  clock: Clock;
  random: () => number;
}

const globalClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) throw duplexError("bad_request", `${name} must be a positive integer, got ${value}`);
  return value;
}

export function resolveOptions(o: ClientOptions): Resolved {
  if (typeof o.token !== "function" && (typeof o.token !== "string" || o.token === "")) {
    throw duplexError("bad_request", "token must be a non-empty string or a function returning a promise of one");
  }
  if (o.device !== undefined && !isId(o.device)) throw duplexError("bad_request", `device must be ${ID_RULE}`);
  const WebSocket = o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocket) throw duplexError("bad_request", "this runtime has no global WebSocket (Node 20): pass options.WebSocket, e.g. WebSocket from the ws package");
  const fetch = o.fetch ?? (globalThis.fetch ? (input, init) => globalThis.fetch(input, init) : undefined);
  if (!fetch) throw duplexError("bad_request", "this runtime has no global fetch: pass options.fetch");
  return {
    url: o.url,
    token: o.token,
    device: o.device,
    heartbeatMs: o.heartbeatMs === undefined ? undefined : positive("heartbeatMs", o.heartbeatMs, 0),
    connectTimeoutMs: positive("connectTimeoutMs", o.connectTimeoutMs, 10_000),
    backoff: checkBackoff({ ...DEFAULT_BACKOFF, ...o.backoff }),
    outbox: o.outbox ?? memoryStorage(),
    maxOutbox: positive("maxOutbox", o.maxOutbox, 1000),
    maxInFlight: positive("maxInFlight", o.maxInFlight, 64),
    maxMessageBytes: positive("maxMessageBytes", o.maxMessageBytes, 65_536),
    gapGraceMs: positive("gapGraceMs", o.gapGraceMs, 1000),
    WebSocket,
    fetch,
    clock: o.clock ?? globalClock,
    random: o.random ?? Math.random,
  };
}
