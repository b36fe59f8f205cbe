/**
 * The floor: a bare Bun.serve WebSocket doing duplex's fan-out with nothing else — no
 * auth (the user is a query parameter), no store, no broker, no heartbeat, sequence
 * numbers from a counter in memory. It speaks the frames of duplex.v1 that the load
 * clients use (welcome, send → ack, msg), so the same clients drive it.
 *
 * BARE_FANOUT picks how a message reaches the conversation's sockets:
 * - `publish` (default): Bun's native pub/sub, one call per message — the fastest
 *   fan-out this runtime has;
 * - `loop`: one ServerWebSocket.send per socket, as a hub that keeps its own socket sets
 *   (duplex's, today) must do.
 *
 *   bun run bench/baseline/bare-bun.ts     (PORT, default 0; BARE_FANOUT)
 */
import type { ServerWebSocket } from "bun";

interface Data {
  user: string;
  device: string;
}

const loop = process.env.BARE_FANOUT === "loop";
const members = new Map<string, Set<string>>();
const convsOf = new Map<string, Set<string>>();
const seqs = new Map<string, number>();
const sockets = new Map<string, Set<ServerWebSocket<Data>>>();
const topic = (conv: string) => `c:${conv}`;

const server = Bun.serve<Data>({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  async fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === "/ws") {
      const user = url.searchParams.get("user");
      const device = url.searchParams.get("device");
      if (!user || !device) return new Response("user and device are required", { status: 400 });
      return srv.upgrade(req, { data: { user, device } }) ? undefined : new Response("upgrade failed", { status: 400 });
    }
    if (url.pathname === "/api/conversations" && req.method === "POST") {
      const body = await req.json() as { id?: string; members: string[] };
      const id = body.id ?? crypto.randomUUID();
      members.set(id, new Set(body.members));
      for (const u of body.members) {
        if (!convsOf.has(u)) convsOf.set(u, new Set());
        convsOf.get(u)!.add(id);
      }
      return Response.json({ id, members: body.members }, { status: 201 });
    }
    return new Response("not found", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws) {
      for (const conv of convsOf.get(ws.data.user) ?? []) {
        if (!loop) ws.subscribe(topic(conv));
        else if (sockets.has(conv)) sockets.get(conv)!.add(ws);
        else sockets.set(conv, new Set([ws]));
      }
      ws.send(JSON.stringify({ type: "welcome", user: ws.data.user, device: ws.data.device }));
    },
    message(ws, data) {
      const f = JSON.parse(String(data));
      if (f.type !== "send") return;
      if (!members.get(f.conv)?.has(ws.data.user)) {
        ws.send(JSON.stringify({ type: "error", id: f.id, code: "forbidden" }));
        return;
      }
      const seq = (seqs.get(f.conv) ?? 0) + 1;
      seqs.set(f.conv, seq);
      const from = { user: ws.data.user, device: ws.data.device };
      const text = JSON.stringify({ type: "msg", conv: f.conv, seq, id: f.id, from, body: f.body, ts: Date.now() });
      // Both reach every socket of the conversation but this one: the sender's other devices included.
      if (loop) {
        for (const s of sockets.get(f.conv) ?? []) if (s !== ws) s.send(text);
      } else ws.publish(topic(f.conv), text);
      ws.send(JSON.stringify({ type: "ack", id: f.id, conv: f.conv, seq }));
    },
    close(ws) {
      if (loop) for (const conv of convsOf.get(ws.data.user) ?? []) sockets.get(conv)?.delete(ws);
    },
  },
});

console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${server.port}` }));
