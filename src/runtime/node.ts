/** Node: the node:http + ws server of node-http.ts, and Node's process. */
import { WebSocket as WsClient } from "ws";
import { nodeHttp } from "./node-http.ts";
import type { Runtime, RuntimeOptions, SocketFactory } from "./runtime.ts";

export const env = (): Record<string, string | undefined> => process.env;
export const exit = (code: number): never => process.exit(code);

/** Node 20 has no global WebSocket; `ws`'s client has the same event-handler surface. */
export function clientSocket({ insecure }: { insecure: boolean }): SocketFactory {
  if (insecure) process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  return (url) => new WsClient(url, { rejectUnauthorized: !insecure }) as unknown as globalThis.WebSocket;
}

export function create(options: RuntimeOptions): Runtime {
  return {
    name: "node",
    ...nodeHttp(options),
    onShutdownSignal(fn) {
      for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, () => fn(s));
    },
  };
}
