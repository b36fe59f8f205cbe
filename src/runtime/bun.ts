/**
 * Bun: Hono's bun adapter for the upgrade; the websocket handler is spread so that Bun's
 * own options can be added (its native payload limit closes with 1009 before we see the
 * frame). Bun's idle timeout rounds up to 8 s and cannot follow a shorter heartbeat, so
 * it is off and the hub's heartbeat pings through ServerWebSocket.ping().
 */
import type { ServerWebSocket } from "bun";
import { getConnInfo, upgradeWebSocket, websocket } from "hono/bun";
import { lookup } from "node:dns/promises";
import type { SocketEvents, SocketSeam } from "../core/socket.ts";
import { honoEvents } from "./hono-events.ts";
import type { Runtime, RuntimeOptions, SocketFactory } from "./runtime.ts";

type Raw = ServerWebSocket<unknown>;

export const env = (): Record<string, string | undefined> => process.env;
export const exit = (code: number): never => process.exit(code);

export function clientSocket({ insecure }: { insecure: boolean }): SocketFactory {
  // fetch reads this too; Bun's WebSocket takes its TLS options as a second argument.
  if (insecure) process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  return (url) => new WebSocket(url, (insecure ? { tls: { rejectUnauthorized: false } } : undefined) as never);
}

/**
 * Bun reports a host name that does not resolve as EINVAL, or, with port 0, as the port
 * being in use: a failed listen on a name that does not resolve is the name's fault.
 */
async function listening<T>(listen: () => T, host: string): Promise<T> {
  try {
    return listen();
  } catch (err) {
    throw await lookup(host).then(() => err, (notFound) => notFound);
  }
}

/** How long a close frame may wait behind queued data: as long as `ws` (Node) waits for a closing peer. */
const CLOSE_GRACE_MS = 30_000;

export function create(options: RuntimeOptions): Runtime {
  const sockets = new WeakMap<Raw, SocketEvents>();
  // Bun drops a socket a few seconds after close() even if data is still queued ahead of
  // the close frame, so a slow reader would see 1006 instead of the code it was closed with.
  // The close frame is sent once the queue has drained, or after CLOSE_GRACE_MS.
  const closing = new WeakMap<Raw, () => void>();
  const close = (raw: Raw, code: number, reason: string) => {
    if (raw.getBufferedAmount() === 0 || closing.has(raw)) return raw.close(code, reason);
    const timer = setTimeout(() => closing.get(raw)?.(), CLOSE_GRACE_MS);
    closing.set(raw, () => { clearTimeout(timer); closing.delete(raw); raw.close(code, reason); });
  };
  const seam = (raw: Raw): SocketSeam => ({
    send: (text) => raw.readyState !== 1 || raw.send(text) !== 0,
    close: (code, reason) => close(raw, code, reason),
    ping: () => { if (raw.readyState === 1) raw.ping(); },
    terminate: () => raw.terminate(),
    bufferedAmount: () => raw.getBufferedAmount(),
  });
  return {
    name: "bun",
    upgrade: (c, open) => upgradeWebSocket(c, honoEvents(sockets, seam, open)),
    peer: (c) => getConnInfo(c).remote.address ?? null,
    async serve(app, port, host) {
      const server = await listening(() => Bun.serve({
        port, hostname: host, fetch: app.fetch,
        // Bun counts whole seconds; it closes a request that is not complete by then.
        idleTimeout: Math.ceil(options.requestTimeoutMs / 1000),
        websocket: {
          // Hono types its handler for its own socket type; Bun's is the same object.
          ...(websocket as object),
          maxPayloadLength: options.maxPayload,
          idleTimeout: 0,
          sendPings: false,
          backpressureLimit: options.maxBufferedBytes,
          pong: (raw: Raw) => sockets.get(raw)?.pong(),
          drain: (raw: Raw) => { if (raw.getBufferedAmount() === 0) closing.get(raw)?.(); },
        },
      }), host);
      return { port: server.port as number, stop: () => server.stop() };
    },
    onShutdownSignal(fn) {
      for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, () => fn(s));
    },
  };
}
