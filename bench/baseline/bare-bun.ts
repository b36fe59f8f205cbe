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
 * With BARE_AMQP_URL it is one node of a cluster, the floor of duplex's cluster: sends cross
 * RabbitMQ as duplex's do (bare-pipeline.ts), are numbered by their shard's owner, and
 * every node publishes what it hears to its own sockets; the sender is acked when its node
 * hears its own send come back. Conversations must be created on every node.
 *
 *   bun run bench/baseline/bare-bun.ts     (PORT, default 0; BARE_FANOUT;
 *     for a cluster BARE_AMQP_URL, BARE_NAMESPACE, BARE_NODE, BARE_NODES, BARE_SHARDS,
 *     and BARE_REDIS_URL to store each batch before it is fanned out)
 */
import type { ServerWebSocket } from "bun";
import { type Heard, pipeline, type Submitted } from "./bare-pipeline.ts";

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
const env = process.env;
const node = Number(env.BARE_NODE ?? 0);
/** Sends of this node's sockets waiting to come back through the cluster, by ref. */
const waiting = new Map<number, ServerWebSocket<Data>>();
let refs = 0;
// Variables of its own: an AMQP_URL or REDIS_URL the bench was started with must not turn
// the single-node floor into a cluster, nor the hops-alone floor into one with a store.
const submit = env.BARE_AMQP_URL
  ? await pipeline({ url: env.BARE_AMQP_URL, namespace: env.BARE_NAMESPACE!, node, nodes: Number(env.BARE_NODES), shards: Number(env.BARE_SHARDS), redisUrl: env.BARE_REDIS_URL }, heard)
  : null;

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
      const from = { user: ws.data.user, device: ws.data.device };
      if (submit) {
        waiting.set(refs, ws);
        submit({ conv: f.conv, id: f.id, from, body: f.body, origin: node, ref: refs++ });
        return;
      }
      const seq = (seqs.get(f.conv) ?? 0) + 1;
      seqs.set(f.conv, seq);
      deliver({ conv: f.conv, id: f.id, from, body: f.body, seq }, ws);
    },
    close(ws) {
      if (loop) for (const conv of convsOf.get(ws.data.user) ?? []) sockets.get(conv)?.delete(ws);
    },
  },
});

/** Writes m to every socket of its conversation but `sender`'s (the sender's other devices included), and acks the sender. */
function deliver(m: Omit<Heard, "origin" | "ref">, sender: ServerWebSocket<Data> | undefined): void {
  const text = JSON.stringify({ type: "msg", conv: m.conv, seq: m.seq, id: m.id, from: m.from, body: m.body, ts: Date.now() });
  if (loop) {
    for (const s of sockets.get(m.conv) ?? []) if (s !== sender) s.send(text);
  } else if (sender) sender.publish(topic(m.conv), text);
  else server.publish(topic(m.conv), text);
  sender?.send(JSON.stringify({ type: "ack", id: m.id, conv: m.conv, seq: m.seq }));
}

function heard(items: Heard[]): void {
  for (const item of items) {
    let sender: ServerWebSocket<Data> | undefined;
    if (item.origin === node) {
      sender = waiting.get(item.ref);
      waiting.delete(item.ref);
    }
    // A sender gone meanwhile still has its other devices to reach.
    deliver(item, sender?.readyState === 1 ? sender : undefined);
  }
}

console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${server.port}` }));
