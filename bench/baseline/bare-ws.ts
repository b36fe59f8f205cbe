/**
 * The floor for memory per connection on Node, and on Deno: a bare `ws` server on
 * node:http — the same WebSocket library and settings duplex's runtime uses on both
 * (src/runtime/node-http.ts; Deno runs it through its Node compatibility layer) — with
 * nothing of duplex: no auth, no session, no state beyond the socket. It answers the
 * upgrade with duplex.v1's `welcome`, so the idle clients that measure duplex measure it.
 * What a connection costs here is what the runtime and `ws` cost before any server code runs.
 *
 *   node --import tsx bench/baseline/bare-ws.ts     (PORT, default 0)
 *   deno run -A bench/baseline/bare-ws.ts
 */
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, clientTracking: false });
const server = createServer((req, res) => {
  res.writeHead(404).end();
});
server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const user = url.searchParams.get("user");
  const device = url.searchParams.get("device");
  if (url.pathname !== "/ws" || !user || !device) {
    socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ type: "welcome", user, device })));
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${port}` }));
});
