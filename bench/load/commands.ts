/**
 * What the orchestrator asks of a load worker and what it answers: one JSON object per
 * line each way (stdin / stdout), so the worker runs on any runtime.
 */
import type { Proto } from "./codec.ts";

export interface Conn {
  /** Unique across the run; later commands name sockets by it. */
  key: string;
  /** ws://host:port of the node this socket goes to. */
  base: string;
  user: string;
  device: string;
}

export interface Sender {
  key: string;
  conv: string;
}

export type Command =
  /** Opens sockets (at most `concurrency` handshakes in flight) and waits for each welcome. */
  | { op: "open"; proto: Proto; secret: string; conns: Conn[]; concurrency: number; timeoutMs: number }
  /**
   * Sends open-loop: message i leaves at start + i/rate from senders[i % n], whatever
   * the answers do, and is stamped with the wall clock when it is written.
   */
  | { op: "send"; tag: string; senders: Sender[]; rate: number; durationMs: number; drainMs: number; timeline?: boolean }
  /** Delivered-message counts and latencies per tag, since the last reset. */
  | { op: "collect"; tags: string[]; reset: boolean }
  | { op: "close" };

export interface OpenResult {
  opened: number;
  failed: number;
  firstError: string;
  ms: number;
  /** Handshake to welcome, per socket (encoded histogram). */
  handshake: string;
}

export interface SendResult {
  sent: number;
  acked: number;
  /** Refusals by error code; "closed" counts sends that found their socket gone. */
  errors: Record<string, number>;
  /** Neither acked nor refused within the drain window. */
  unanswered: number;
  ms: number;
  /** Send to ack (encoded histogram). */
  ack: string;
  /** How late each send left against its schedule (encoded histogram). */
  lag: string;
  /** With `timeline`: per send [written at, answered at (negative: refused, 0: never)]. */
  timeline?: [number, number][];
}

export interface CollectResult {
  tags: Record<string, { received: number; latency: string }>;
  /** Sockets the server closed since they opened. */
  dropped: number;
}

export interface Reply {
  n: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
