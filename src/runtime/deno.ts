/**
 * Deno: Hono's deno adapter passes `idleTimeout` to Deno.upgradeWebSocket, which makes
 * Deno ping and close a peer that does not answer — Deno exposes no ping or pong of its
 * own, so its liveness is the runtime's. Deno has no payload limit: the hub measures
 * every frame and closes with 1009. Deno may fire close twice; the hub ignores repeats.
 */
import { getConnInfo, upgradeWebSocket } from "hono/deno";
import { denoIdleTimeoutS } from "../core/heartbeat-figures.ts";
import type { SocketEvents, SocketSeam } from "../core/socket.ts";
import { honoEvents } from "./hono-events.ts";
import type { Runtime, RuntimeOptions, SocketFactory } from "./runtime.ts";

// deno-lint-ignore no-explicit-any
const Deno = (globalThis as any).Deno;

export const env = (): Record<string, string | undefined> => Deno.env.toObject();
export const exit = (code: number): never => Deno.exit(code) as never;

/** Deno decides about certificates per process: `--unsafely-ignore-certificate-errors`. */
export function clientSocket(_: { insecure: boolean }): SocketFactory {
  return (url) => new WebSocket(url);
}

export function create(options: RuntimeOptions): Runtime {
  const sockets = new WeakMap<WebSocket, SocketEvents>();
  const seam = (raw: WebSocket): SocketSeam => ({
    send: (text) => { if (raw.readyState === 1) raw.send(text); return true; },
    close: (code, reason) => raw.close(code, reason),
    ping: () => false,
    terminate: () => raw.close(1001, "gone"),
    bufferedAmount: () => raw.bufferedAmount,
  });
  const idleTimeout = denoIdleTimeoutS(options.heartbeatMs);
  return {
    name: "deno",
    upgrade: (c, open) => upgradeWebSocket(c, honoEvents(sockets, seam, open), { idleTimeout }),
    peer: (c) => getConnInfo(c).remote.address ?? null,
    serve(app, port, host) {
      return new Promise((resolve) => {
        const server = Deno.serve({
          port, hostname: host,
          onListen: (addr: { port: number }) => resolve({ port: addr.port, stop: () => server.shutdown() }),
        }, app.fetch);
      });
    },
    onShutdownSignal(fn) {
      for (const s of ["SIGTERM", "SIGINT"]) Deno.addSignalListener(s, () => fn(s));
    },
  };
}
