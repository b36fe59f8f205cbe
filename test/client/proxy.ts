/**
 * A TCP proxy between a client and a node, to break the network on cue: hold back what
 * the node says (an ack lost on the way), cut every connection, refuse new ones (offline).
 */
import { createServer, type Server, type Socket, connect as tcp } from "node:net";

export interface Proxy {
  /** Base URL (http://127.0.0.1:port) that leads to the node. */
  url: string;
  /** Drops whatever the node sends from now on, on the connections open now. */
  holdDown(): void;
  /** Destroys every open connection (the client sees an abnormal close). */
  cut(): void;
  /** Cuts and refuses new connections until online(). */
  offline(): void;
  online(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const pairs = new Set<{ client: Socket; node: Socket; held: boolean }>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy();
    const node = tcp(targetPort, "127.0.0.1");
    const pair = { client, node, held: false };
    pairs.add(pair);
    client.on("data", (d) => node.write(d));
    node.on("data", (d) => { if (!pair.held) client.write(d); });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      node.destroy();
    };
    client.on("close", end).on("error", end);
    node.on("close", end).on("error", end);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as { port: number }).port;
  const cut = () => {
    for (const p of pairs) {
      p.client.destroy();
      p.node.destroy();
    }
    pairs.clear();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    holdDown: () => { for (const p of pairs) p.held = true; },
    cut,
    offline: () => { refusing = true; cut(); },
    online: () => { refusing = false; },
    close: () => new Promise<void>((ok) => { cut(); server.close(() => ok()); }),
  };
}
