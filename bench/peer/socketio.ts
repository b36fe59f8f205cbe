/**
 * The peer: what people would otherwise write — Socket.IO 4 on Node, and with REDIS_URL
 * the @socket.io/redis-adapter across nodes — doing duplex's work as a Socket.IO app
 * does it: the same JWT checked in a middleware, each socket joined to a room per
 * conversation of its user, a `send` broadcast to the room but the sending socket, then
 * acknowledged. What it does not do, and duplex does (the reason both numbers exist):
 * - no stored history and no `sync`: an ack only means this node broadcast it;
 * - no conversation-wide order across nodes: `seq` counts per node, and the adapter
 *   relays over Redis pub/sub, at most once;
 * - no session registry, so no cross-node replacement of a user+device.
 *
 *   node --import tsx bench/peer/socketio.ts    (PORT, DUPLEX_JWT_SECRET, REDIS_URL, DUPLEX_NAMESPACE)
 */
import { createServer, type IncomingMessage } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";
import { verifyToken } from "../../src/http/auth.ts";
import { SETTINGS } from "../../src/core/config.ts";

const secret = process.env.DUPLEX_JWT_SECRET;
if (!secret) throw new Error("DUPLEX_JWT_SECRET is required");
const members = new Map<string, Set<string>>();
const convsOf = new Map<string, Set<string>>();
const seqs = new Map<string, number>();
const room = (conv: string) => `c:${conv}`;

/** The bench creates conversations on every node alike (a Socket.IO app would read its database). */
const http = createServer(async (req, res) => {
  if (req.url !== "/api/conversations" || req.method !== "POST") {
    res.writeHead(404).end();
    return;
  }
  const body = JSON.parse(await text(req)) as { id: string; members: string[] };
  members.set(body.id, new Set(body.members));
  for (const u of body.members) {
    if (!convsOf.has(u)) convsOf.set(u, new Set());
    convsOf.get(u)!.add(body.id);
  }
  res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(body));
});

// Overloaded, the Redis adapter lets a publish that timed out become an unhandled
// rejection, which ends a Node process; a production app logs it and serves on, as this does.
process.on("unhandledRejection", (err) => console.error(`unhandled rejection: ${err instanceof Error ? err.name : String(err)}`));

const io = new Server(http, { transports: ["websocket"], serveClient: false });
const redisUrl = process.env.REDIS_URL;
const links: { quit(): Promise<unknown> }[] = [];
if (redisUrl) {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on("error", (err) => console.error(`redis: ${err.message}`));
  await Promise.all([pub.connect(), sub.connect()]);
  links.push(pub, sub);
  io.adapter(createAdapter(pub, sub, { key: `${process.env.DUPLEX_NAMESPACE ?? "duplex"}-sio` }));
}

io.use(async (socket, next) => {
  try {
    socket.data.user = await verifyToken(socket.handshake.auth.token, secret, SETTINGS.maxTokenTtl.parse(process.env.DUPLEX_MAX_TOKEN_TTL));
    socket.data.device = String(socket.handshake.auth.device ?? socket.id);
    next();
  } catch {
    next(new Error("unauthorized"));
  }
});

io.on("connection", (socket) => {
  const { user, device } = socket.data as { user: string; device: string };
  socket.join([...convsOf.get(user) ?? []].map(room));
  socket.emit("welcome", { user, device });
  socket.on("send", (f: { id: string; conv: string; body: unknown }, ack: unknown) => {
    if (typeof ack !== "function") return;
    if (!members.get(f.conv)?.has(user)) return ack({ error: { code: "forbidden" } });
    const seq = (seqs.get(f.conv) ?? 0) + 1;
    seqs.set(f.conv, seq);
    socket.to(room(f.conv)).emit("msg", { conv: f.conv, seq, id: f.id, from: { user, device }, body: f.body, ts: Date.now() });
    ack({ conv: f.conv, seq });
  });
});

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const { port } = http.address() as { port: number };
  console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${port}` }));
});

process.on("SIGTERM", () => {
  io.close();
  void Promise.allSettled(links.map((l) => l.quit())).then(() => process.exit(0));
});

function text(req: IncomingMessage): Promise<string> {
  return new Promise((ok, fail) => {
    let s = "";
    req.on("data", (d) => (s += d)).on("end", () => ok(s)).on("error", fail);
  });
}
