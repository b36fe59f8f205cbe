/**
 * Bun: the upgrade is Bun's own (`server.upgrade`) rather than hono/bun's, which keeps a
 * URL, a set of handlers and Hono's request context alive for every socket; here a socket
 * keeps one BunSocket, which is its seam too. Bun's native payload limit closes with 1009
 * before we see the frame. Bun's idle timeout rounds up to 8 s and cannot follow a shorter
 * heartbeat, so it is off and the hub's heartbeat pings through ServerWebSocket.ping().
 * Conversations fan out through Bun's topics (`publish`): one native call per message.
 */
import type { Server as BunServer, ServerWebSocket } from "bun";
import { getBunServer, getConnInfo } from "hono/bun";
import { lookup } from "node:dns/promises";
import { SLOW_HARD_FACTOR } from "../core/connection.ts";
import { duplexError } from "../core/errors.ts";
import type { Publish, SocketEvents, SocketSeam } from "../core/socket.ts";
import type { Runtime, RuntimeOptions, SocketFactory } from "./runtime.ts";

type Raw = ServerWebSocket<BunSocket>;
type Open = (seam: SocketSeam) => SocketEvents;

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

/** One socket: the data Bun keeps with it, the seam the hub writes through, and its events. */
class BunSocket implements SocketSeam {
  raw: Raw | null = null;
  events: SocketEvents | null = null;
  #open: Open | null;
  /** A close waiting for the send queue to drain. */
  #closing: (() => void) | null = null;

  constructor(open: Open) {
    this.#open = open;
  }

  opened(raw: Raw): void {
    this.raw = raw;
    this.events = this.#open!(this);
    this.#open = null;
  }

  send(text: string): boolean {
    const raw = this.raw!;
    return raw.readyState !== 1 || raw.send(text) !== 0;
  }

  /**
   * Bun drops a socket a few seconds after close() even if data is still queued ahead of
   * the close frame, so a slow reader would see 1006 instead of the code it was closed
   * with. The close frame is sent once the queue has drained, or after CLOSE_GRACE_MS.
   */
  close(code: number, reason: string): void {
    const raw = this.raw!;
    // Nothing published after the close may reach the socket.
    for (const topic of raw.subscriptions) raw.unsubscribe(topic);
    if (raw.getBufferedAmount() === 0 || this.#closing) return raw.close(code, reason);
    const timer = setTimeout(() => this.#closing?.(), CLOSE_GRACE_MS);
    this.#closing = () => { clearTimeout(timer); this.#closing = null; raw.close(code, reason); };
  }

  drained(): void {
    if (this.raw!.getBufferedAmount() === 0) this.#closing?.();
  }

  ping(): void {
    if (this.raw!.readyState === 1) this.raw!.ping();
  }

  terminate(): void {
    this.raw!.terminate();
  }

  bufferedAmount(): number {
    return this.raw!.getBufferedAmount();
  }

  subscribe(topic: string): void {
    this.raw!.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    this.raw!.unsubscribe(topic);
  }
}

export function create(options: RuntimeOptions): Runtime {
  let server: BunServer<BunSocket> | null = null;
  const publish: Publish = (topic, text, except) => {
    // A socket's own publish reaches every subscriber but itself.
    if (except) (except as BunSocket).raw!.publish(topic, text);
    else server?.publish(topic, text);
  };
  return {
    name: "bun",
    upgrade: (c, open) => {
      const bun = getBunServer<BunServer<BunSocket>>(c);
      if (!bun?.upgrade(c.req.raw, { data: new BunSocket(open) })) throw duplexError("bad_request", "the WebSocket upgrade failed");
      return new Response(null);
    },
    peer: (c) => getConnInfo(c).remote.address ?? null,
    publish,
    async serve(app, port, host) {
      server = await listening(() => Bun.serve<BunSocket>({
        port, hostname: host, fetch: app.fetch,
        // Bun counts whole seconds; it closes a request that is not complete by then.
        idleTimeout: Math.ceil(options.requestTimeoutMs / 1000),
        websocket: {
          maxPayloadLength: options.maxPayload,
          idleTimeout: 0,
          sendPings: false,
          // Bun drops frames for a socket over this, published ones silently: the hub closes
          // a socket before it gets there (Connection.written).
          backpressureLimit: options.maxBufferedBytes * SLOW_HARD_FACTOR,
          open: (raw) => raw.data.opened(raw),
          message: (raw, data) => typeof data === "string" ? raw.data.events?.text(data) : raw.data.events?.binary(),
          close: (raw, code, reason) => raw.data.events?.ended(code, reason),
          pong: (raw) => raw.data.events?.pong(),
          drain: (raw) => raw.data.drained(),
        },
      }), host);
      return { port: server.port as number, stop: () => server!.stop() };
    },
    onShutdownSignal(fn) {
      for (const s of ["SIGTERM", "SIGINT"] as const) process.on(s, () => fn(s));
    },
  };
}
