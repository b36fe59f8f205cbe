/**
 * What a node needs from the runtime it runs on. Each of bun.ts, deno.ts and node.ts
 * implements it; nothing outside src/runtime/ may touch Bun, Deno or node: APIs for
 * serving. `load()` in load.ts picks the one for the runtime we are on.
 */
import type { Hono } from "hono";
import type { Upgrade } from "../http/app.ts";

/** Makes a WebSocket; lets a runtime add headers or TLS options the standard one lacks. */
export type SocketFactory = (url: string) => WebSocket;

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
