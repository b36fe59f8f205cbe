/**
 * The node's clock, ticking HEARTBEAT.ticks (4) times per heartbeat interval (h); every
 * multiple of h is in heartbeat-figures.ts:
 * - every h: a protocol ping to each socket, on every runtime;
 * - every tick: a socket silent for more than 1.25 h is dropped, so a dead peer is gone
 *   (socket and session) within 1.5 h, inside the contract's two intervals;
 * - every h/2: one store call renews this node and all its sessions for 1.5 h, and a
 *   sweep purges expired sessions and those of nodes that stopped renewing — a crashed
 *   node's sessions lapse within 1.5 h and are swept within 2 h.
 */
import { HEARTBEAT, heartbeatFigures } from "./heartbeat-figures.ts";
import type { Hub } from "./hub.ts";
import { errorFields, type Logger } from "./log.ts";
import type { SessionStore } from "./ports/store.ts";
import { CLOSE } from "./socket.ts";

export function startHeartbeat(hub: Hub, sessions: SessionStore, log: Logger, now: () => number = Date.now): () => void {
  const f = heartbeatFigures(hub.heartbeatMs);
  const renewEvery = HEARTBEAT.renew * HEARTBEAT.ticks;
  let tick = 0;
  let busy = false;
  // Logged when it starts failing and when it recovers, not every half interval between.
  let failing = false;
  const timer = setInterval(() => {
    tick++;
    const t = now();
    for (const conn of hub.all()) {
      if (conn.pingable && t - conn.lastSeen > f.silentMs) {
        log.info("silent peer dropped", { session: conn.record.session, user: conn.record.user, silentMs: t - conn.lastSeen });
        conn.seam.terminate();
        hub.shut(conn, CLOSE.goingAway, "no heartbeat");
      } else if (tick % HEARTBEAT.ticks === 0) {
        conn.seam.ping();
        conn.pingable = true;
        conn.tidyReplays((conv) => hub.delivered(conv));
      }
    }
    if (tick % renewEvery === 0 && !busy) {
      busy = true;
      const records = Array.from(hub.all(), (c) => c.record);
      sessions.refresh(hub.nodeId, records, f.sessionTtlMs)
        .then(() => sessions.sweep())
        .then((n) => {
          if (failing) log.info("session heartbeat recovered");
          failing = false;
          if (n > 0) log.info("swept stale sessions", { count: n });
        })
        .catch((err) => {
          if (!failing) log.warn("session heartbeat failing", errorFields(err));
          failing = true;
        })
        .finally(() => { busy = false; });
    }
  }, f.tickMs);
  return () => clearInterval(timer);
}
