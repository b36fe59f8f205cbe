import type { WSEvents } from "hono/ws";
import type { SocketEvents, SocketSeam } from "../core/socket.ts";

/**
 * Hono's WebSocket events wired to the hub through a seam built from the raw socket.
 * State is keyed by the raw socket, since Bun makes a new WSContext for every event.
 */
export function honoEvents<Raw extends object>(
  sockets: WeakMap<Raw, SocketEvents>,
  seam: (raw: Raw) => SocketSeam,
  open: (seam: SocketSeam) => SocketEvents,
): WSEvents {
  return {
    onOpen: (_e, ws) => { const raw = ws.raw as Raw; sockets.set(raw, open(seam(raw))); },
    onMessage: (e, ws) => {
      const events = sockets.get(ws.raw as Raw);
      if (typeof e.data === "string") events?.text(e.data);
      else events?.binary();
    },
    onClose: (e, ws) => sockets.get(ws.raw as Raw)?.ended(e.code, e.reason),
  };
}
