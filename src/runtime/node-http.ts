/**
 * The server of Node and Deno nodes: @hono/node-server over `node:http` (Deno's Node
 * compatibility layer on Deno), upgrades through a `ws` server of ours, so its options apply
 * (maxPayload closes with 1009) and the raw socket gives ping, pong and terminate. The
 * upgrade listener is ours rather than node-server's because node-server answers a refused
 * upgrade with an empty body, and the contract promises a JSON one.
 *
 * Deno serves through it too rather than through Deno.serve, which has no read deadline for
 * a request's headers or body (denoland/deno#3515), and which resets a connection whose
 * client keeps sending after the close frame, so a flooder read 1006 instead of 1008.
 */
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { IncomingMessage, ServerOptions } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import { duplexError } from "../core/errors.ts";
import type { SocketEvents, SocketSeam } from "../core/socket.ts";
import type { Runtime, RuntimeOptions } from "./runtime.ts";

type Open = (seam: SocketSeam) => SocketEvents;
/**
 * The env of an upgrade request: `incoming` as node-server sets it for other requests (so
 * getConnInfo works on both); `accept` is set by `upgrade`, and the listener completes the
 * handshake.
 */
interface UpgradeEnv {
  incoming: IncomingMessage;
  accept?: Open;
}

/** The seam over a `ws` socket: one object per socket, its methods shared. */
class NodeSocket implements SocketSeam {
  constructor(readonly raw: WebSocket) {}
  send(text: string): boolean {
    if (this.raw.readyState === 1) this.raw.send(text);
    return true;
  }
  close(code: number, reason: string): void {
    this.raw.close(code, reason);
  }
  ping(): void {
    if (this.raw.readyState === 1) this.raw.ping();
  }
  terminate(): void {
    this.raw.terminate();
  }
  bufferedAmount(): number {
    return this.raw.bufferedAmount;
  }
}

/**
 * ws's socket, handing its events straight to the hub's. As an EventEmitter with four
 * listeners (message, pong, close, error) every socket kept a table of them, about 100 B
 * more than a bare `ws` socket (docs/13-production.md, sizing); overriding emit keeps none.
 * ws emits nothing of a server-side socket before the upgrade's callback sets `events`.
 */
class HubSocket extends WebSocket {
  events: SocketEvents | undefined = undefined;
  override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    const events = this.events;
    if (!events) return false;
    if (event === "message") {
      if (b) events.binary();
      else events.text((a as Buffer).toString());
    } else if (event === "pong") events.pong();
    else if (event === "close") events.ended(a as number, (b as Buffer).toString());
    // "error" (a refused frame, over maxPayload) is followed by close 1009, which is what
    // counts; "ping" ws answers itself. Neither needs a listener, nor may it throw.
    return true;
  }
}

function destroySocket(this: Duplex) {
  this.destroy();
}

/** Everything of a Runtime but its name and its signals, which node.ts and deno.ts add. */
export function nodeHttp(options: RuntimeOptions): Pick<Runtime, "upgrade" | "peer" | "serve"> {
  // The hub keeps the sockets; ws's own set of them would cost every socket a close listener and a set entry.
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload, clientTracking: false, WebSocket: HubSocket });
  const adopt = (raw: HubSocket, socket: Duplex, open: Open) => {
    // ws listens for the socket's errors from here on; a second listener would turn the socket's one into a list.
    socket.off("error", destroySocket);
    raw.events = open(new NodeSocket(raw));
  };
  return {
    upgrade: (c, open) => {
      (c.env as UpgradeEnv).accept = open;
      return new Response(null, { status: 200 });
    },
    peer: (c) => getConnInfo(c).remote.address ?? null,
    serve(app, port, host) {
      return new Promise((resolve, reject) => {
        const server = serve({ fetch: app.fetch, port, hostname: host, serverOptions: requestBounds(options.requestTimeoutMs) }, (info) => {
          resolve({ port: info.port, stop: () => new Promise((done) => { wss.close(); server.close(() => done()); }) });
        });
        server.once("error", reject);
        server.on("upgrade", async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          // A shared listener, not a closure: one made here would keep this handler's scope
          // (and with it the hub's opener and who it was for) as long as the socket lives.
          socket.on("error", destroySocket);
          const upgradeEnv: UpgradeEnv = { incoming: req };
          let res: Response;
          try {
            res = withoutBody(req) ? await app.fetch(toRequest(req), upgradeEnv) : bodyRefused(req);
          } catch {
            res = new Response(null, { status: 500 });
          }
          const open = upgradeEnv.accept;
          if (open) wss.handleUpgrade(req, socket, head, (raw) => adopt(raw as HubSocket, socket, open));
          else await refuse(socket, res);
        });
      });
    },
  };
}

/**
 * Node answers 408 and closes a request whose headers or body are not complete within the
 * bound, counted from its first byte; it checks every connectionsCheckingInterval (30 s by
 * default, which would let a slow client overstay by that much).
 */
function requestBounds(ms: number): ServerOptions {
  return { headersTimeout: ms, requestTimeout: ms, connectionsCheckingInterval: Math.max(250, Math.floor(ms / 4)) };
}

/**
 * Node hands this listener every request that asks for an upgrade, whatever it asks for
 * (`Upgrade: h2c` from `curl --http2` too), and leaves the request's body unread on the
 * socket. A GET or HEAD has none, so it is served as on Bun and Deno; any other method
 * would reach its handler without its body, so it is refused, saying why.
 */
const withoutBody = (req: IncomingMessage) => req.method === "GET" || req.method === "HEAD";

function bodyRefused(req: IncomingMessage): Response {
  const err = duplexError("bad_request", `a ${req.method} request cannot ask for an upgrade here (Upgrade: ${req.headers.upgrade}); send it without the Upgrade header`);
  return Response.json({ error: err.toJSON() }, { status: err.status });
}

/**
 * The request as Hono reads it on this path: its URL, its method and its headers' values.
 * An undici Request and its Headers, built for every handshake, were a tenth of what a
 * connection allocated over its life on Node (docs/13-production.md, sizing). A header
 * sent twice reads as the fetch API on Bun and Deno joins it, ", " between the values; the
 * URL is not normalised as theirs is (dot segments stay), which no route here depends on.
 * There is no body: a GET or HEAD has none (withoutBody). Of the headers only `get` is
 * there, all that duplex's routes and Hono's body limit (which stops at the absent body)
 * call; anything else of Request's (a signal, clone) throws, as no real Request is behind it.
 */
class UpgradeHeaders {
  constructor(private readonly raw: string[]) {}
  get(name: string): string | null {
    const wanted = name.toLowerCase();
    let value: string | null = null;
    for (let i = 0; i < this.raw.length; i += 2) {
      if (this.raw[i].length === wanted.length && this.raw[i].toLowerCase() === wanted) value = value === null ? this.raw[i + 1] : `${value}, ${this.raw[i + 1]}`;
    }
    return value;
  }
}

function toRequest(req: IncomingMessage): Request {
  const light = Object.create(Request.prototype, {
    url: { value: `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}` },
    method: { value: req.method },
    headers: { value: new UpgradeHeaders(req.rawHeaders) },
    body: { value: null },
    bodyUsed: { value: false },
  });
  return light as Request;
}

async function refuse(socket: Duplex, res: Response): Promise<void> {
  const body = Buffer.from(await res.arrayBuffer());
  const head = [`HTTP/1.1 ${res.status} ${res.statusText || "Refused"}`, "Connection: close", `Content-Length: ${body.length}`];
  res.headers.forEach((v, k) => { if (k !== "content-length" && k !== "connection") head.push(`${k}: ${v}`); });
  socket.end(Buffer.concat([Buffer.from(head.join("\r\n") + "\r\n\r\n"), body]));
}
