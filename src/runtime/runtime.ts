/**
 * What a node needs from the runtime it runs on. Each of bun.ts, deno.ts and node.ts
 * implements it; nothing outside src/runtime/ may touch Bun, Deno or node: APIs for
 * serving. `load()` picks the one for the runtime we are on.
 */
import type { Context, Hono } from "hono";
import type { WSEvents } from "hono/ws";
import type { SocketEvents, SocketSeam } from "../core/socket.ts";
import type { Upgrade } from "../core/app.ts";
import type { SocketFactory } from "../ops/probe.ts";

export interface RuntimeOptions {
  maxPayload: number;
  heartbeatMs: number;
  maxBufferedBytes: number;
}

export interface Server {
  port: number;
  /** Stops accepting connections; resolves when the listener is closed. */
  stop(): Promise<void>;
}

export interface Runtime {
  name: "bun" | "deno" | "node";
  upgrade: Upgrade;
  /** The address of the request's TCP peer (a proxy, when there is one); null if unknown. */
  peer(c: Context): string | null;
  serve(app: Hono, port: number, host: string): Promise<Server>;
  onShutdownSignal(fn: (signal: string) => void): void;
}

export interface RuntimeModule {
  /** The process environment, read before the options that the runtime is created with. */
  env(): Record<string, string | undefined>;
  exit(code: number): never;
  /** Client sockets for tools (verify); `insecure` accepts any TLS certificate. */
  clientSocket(options: { insecure: boolean }): SocketFactory;
  create(options: RuntimeOptions): Runtime;
}

export function load(): Promise<RuntimeModule> {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun) return import("./bun.ts");
  if (g.Deno) return import("./deno.ts");
  return import("./node.ts");
}

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
    onClose: (e, ws) => sockets.get(ws.raw as Raw)?.closed(e.code, e.reason),
  };
}
