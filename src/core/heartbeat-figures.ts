/**
 * Every timing that follows from the heartbeat interval h (DUPLEX_HEARTBEAT_MS), in one
 * place: the node's timer (heartbeat.ts), session TTLs (hub.ts), the client's
 * watchdog, nginx's proxy timeouts — and the figures the docs and the generated
 * nginx comment quote, which test/docs-figures.test.ts holds to these.
 */

const TICKS = 4;
const SILENT = 1.25;

/** Multiples of h. */
export const HEARTBEAT = {
  /** The node's timer ticks this many times per interval; every such tick checks silence. */
  ticks: TICKS,
  /** A pinged socket silent for more than this is dropped at the next tick... */
  silent: SILENT,
  /** ...so a dead peer is gone within this of its last sign of life, on every runtime. */
  reap: SILENT + 1 / TICKS,
  /** Sessions and a node's liveness live this long unless renewed... */
  ttl: 1.5,
  /** ...and are renewed (and the store swept) this often. */
  renew: 0.5,
  /** The client gives a link up after this long without any frame. */
  clientSilent: 2,
  /** nginx's proxy read and send timeouts: longer than any healthy silence, so the node decides. */
  proxy: 3,
  /** The contract's promise: a dead peer's socket and session are gone within this. */
  promise: 2,
} as const;

/**
 * The least interval. Every runtime now meets the reap bound at any interval (the hub's own
 * timer pings on all three); the floor stays where it was so that no valid setting changes
 * meaning, and it keeps the timer's tick (h/4) at 250 ms or more.
 */
export const MIN_HEARTBEAT_MS = 1000;

/** Every figure the docs quote, in ms (seconds where named so), for interval `h` ms. */
export function heartbeatFigures(h: number) {
  const tickMs = h / HEARTBEAT.ticks;
  const silentMs = h * HEARTBEAT.silent;
  const sessionTtlMs = Math.ceil(h * HEARTBEAT.ttl);
  const renewMs = h * HEARTBEAT.renew;
  return {
    h,
    tickMs,
    silentMs,
    /** The first tick after `silentMs` of silence: a dead peer is gone by then, on every runtime. */
    reapMs: h * HEARTBEAT.reap,
    sessionTtlMs,
    renewMs,
    /** A crashed node's sessions expire within the TTL of its last renewal; a sweep follows within renewMs. */
    crashedGoneMs: sessionTtlMs + renewMs,
    clientGiveUpMs: h * HEARTBEAT.clientSilent,
    proxyTimeoutS: Math.ceil((h * HEARTBEAT.proxy) / 1000),
    promiseMs: h * HEARTBEAT.promise,
  };
}

export type HeartbeatFigures = ReturnType<typeof heartbeatFigures>;
