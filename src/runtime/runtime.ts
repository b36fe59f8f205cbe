/**
 * What a node needs from the runtime it runs on. Each of bun.ts, deno.ts and node.ts
 * implements it; nothing outside src/runtime/ may touch Bun, Deno or node: APIs for
 * serving. `load()` in load.ts picks the one for the runtime we are on.
 */
import type { Context, Hono } from "hono";
import type { Publish } from "../core/socket.ts";
import type { Upgrade } from "../http/app.ts";

/** Makes a WebSocket; lets a runtime add headers or TLS options the standard one lacks. */
export type SocketFactory = (url: string) => WebSocket;

export interface RuntimeOptions {
  maxPayload: number;
  heartbeatMs: number;
  maxBufferedBytes: number;
  /** Longest a client may take to send a whole HTTP request, headers and body. */
  requestTimeoutMs: number;
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
  /** Native fan-out to subscribed sockets, where the runtime has it (Bun). */
  publish?: Publish;
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

/**
 * Why a node could not listen, as one line naming the setting at fault (CONTRACT §1). The
 * runtimes report the same causes under different names: Node and Bun use errno codes,
 * Deno its own error classes and, for a name it cannot resolve, only a message. Deno's
 * node:http (which Deno nodes serve through) reports an address not of this machine as
 * EINVAL; the port cannot be the cause, since config accepts only 0 to 65535.
 */
export function listenError(err: unknown, port: number, host: string): Error {
  const e = err as { code?: string; name?: string; message?: string };
  const cause = `${e.code ?? ""} ${e.name ?? ""} ${e.message ?? String(err)}`;
  if (/EADDRINUSE|AddrInUse/.test(cause)) return new Error(`PORT ${port} is already in use (HOST ${host})`);
  if (/EADDRNOTAVAIL|AddrNotAvailable|EINVAL|ENOTFOUND|EAI_|lookup address/.test(cause)) {
    return new Error(`HOST "${host}" is not an address of this machine (PORT ${port})`);
  }
  if (/EACCES|PermissionDenied/.test(cause)) return new Error(`PORT ${port} needs privileges this process lacks (HOST ${host})`);
  return new Error(`cannot listen on HOST "${host}" PORT ${port}: ${(e.message ?? String(err)).split("\n")[0]}`);
}
