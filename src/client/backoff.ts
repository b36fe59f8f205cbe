/**
 * Reconnect delays: exponential backoff with full jitter, capped. Full jitter (a delay drawn
 * uniformly from zero to the exponential bound) spreads the clients of a crashed node over
 * the whole window instead of bringing them back in synchronized waves.
 */
import { duplexError } from "../core/errors.ts";

export interface BackoffPolicy {
  /** Bound of the first retry's window, ms. */
  baseMs: number;
  /** Largest window, ms: no delay ever exceeds it. */
  capMs: number;
  /** Growth of the window per failed attempt. */
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000, factor: 2 };

export function checkBackoff(policy: BackoffPolicy): BackoffPolicy {
  const { baseMs, capMs, factor } = policy;
  if (!(Number.isFinite(baseMs) && baseMs > 0)) throw duplexError("bad_request", "backoff.baseMs must be a positive number of milliseconds");
  if (!(Number.isFinite(capMs) && capMs >= baseMs)) throw duplexError("bad_request", "backoff.capMs must be a number of milliseconds no smaller than backoff.baseMs");
  if (!(Number.isFinite(factor) && factor >= 1)) throw duplexError("bad_request", "backoff.factor must be a number of at least 1");
  return policy;
}

/** Delay before retry number `attempt` (0 for the first): random() * min(cap, base * factor^attempt). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const window = Math.min(policy.capMs, policy.baseMs * policy.factor ** attempt);
  return Math.floor(random() * window);
}
