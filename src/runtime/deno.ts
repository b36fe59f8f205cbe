/**
 * Deno: the same node:http + ws server as Node (node-http.ts, through Deno's Node
 * compatibility layer), not Deno.serve, which has no request timeout and loses the close
 * frame of a client that floods (see node-http.ts); Deno's own env, exit and WebSocket.
 */
import { nodeHttp } from "./node-http.ts";
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
  return {
    name: "deno",
    ...nodeHttp(options),
    onShutdownSignal(fn) {
      for (const s of ["SIGTERM", "SIGINT"]) Deno.addSignalListener(s, () => fn(s));
    },
  };
}
