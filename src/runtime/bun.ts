/**
 * Bun: Hono's bun adapter for the upgrade; the websocket handler is spread so that Bun's
 * own options can be added (its native payload limit closes with 1009 before we see the
 * frame). Bun's idle timeout rounds up to 8 s and cannot follow a shorter heartbeat, so
 * it is off and the hub's heartbeat pings through ServerWebSocket.ping().
 */
import type { ServerWebSocket } from "bun";
import { getConnInfo, upgradeWebSocket, websocket } from "hono/bun";
import type { SocketEvents, SocketSeam } from "../core/socket.ts";
import type { SocketFactory } from "../ops/probe.ts";
import { honoEvents, type Runtime, type RuntimeOptions } from "./runtime.ts";

type Raw = ServerWebSocket<unknown>;

export const env = (): Record<string, string | undefined> => process.env;
export const exit = (code: number): never => process.exit(code);

export function clientSocket({ insecure }: { insecure: boolean }): SocketFactory {
  // fetch reads this too; Bun's WebSocket takes its TLS options as a second argument.
  if (insecure) process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  return (url) => new WebSocket(url, (insecure ? { tls: { rejectUnauthorized: false } } : undefined) as never);
}

export function create(options: RuntimeOptions): Runtime {
  const sockets = new WeakMap<Raw, SocketEvents>();
  const seam = (raw: Raw): SocketSeam => ({
    send: (text) => raw.readyState !== 1 || raw.send(text) !== 0,
    close: (code, reason) => raw.close(code, reason),
    ping: () => { if (raw.readyState === 1) raw.ping(); return true; },
    terminate: () => raw.terminate(),
    bufferedAmount: () => raw.getBufferedAmount(),
  });
  return {
    name: "bun",
    upgrade: (c, open) => upgradeWebSocket(c, honoEvents(sockets, seam, open)),
    peer: (c) => getConnInfo(c).remote.address ?? null,
    async serve(app, port, host) {
      const server = Bun.serve({
        port, hostname: host, fetch: app.fetch,
        websocket: {
          // Hono types its handler for its own socket type; Bun's is the same object.
          ...(websocket as object),
          maxPayloadLength: options.maxPayload,
          idleTimeout: 0,
          sendPings: false,
          backpressureLimit: options.maxBufferedBytes,
          pong: (raw: Raw) => sockets.get(raw)?.pong(),
        },
      });
      return { port: server.port as number, stop: () => server.stop() };
    },
    onShutdownSignal(fn) {
      for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, () => fn(s));
    },
  };
}
