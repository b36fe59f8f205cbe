/**
 * Metric 5 without MONITOR and without the RabbitMQ management API (not installed here):
 * loopback TCP proxies in front of Redis and RabbitMQ that parse what passes through
 * and count it. They see only the nodes pointed at them, so the other users of the
 * shared servers do not leak into the counts (INFO commandstats would count them too).
 *
 * - Redis: every command a client sends (RESP arrays, by name), and round trips — a
 *   burst of client bytes after the server last spoke, on each connection.
 * - RabbitMQ: basic.publish frames from clients and basic.deliver frames to them.
 */
import { connect, createServer, type Socket } from "node:net";

export type Counts = Record<string, number>;

export interface CountingProxy {
  /** The target URL with host and port replaced by the proxy's. */
  url: string;
  /** Running totals since the proxy started. */
  counts(): Counts;
  close(): void;
}

type Direction = (chunk: Buffer, tally: (name: string) => void) => void;

async function proxy(target: string, defaultPort: number, make: () => { up: Direction; down: Direction }): Promise<CountingProxy> {
  const totals: Counts = {};
  const tally = (name: string) => { totals[name] = (totals[name] ?? 0) + 1; };
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(t.port || defaultPort), t.hostname);
    const parse = make();
    let serverSpoke = true;
    sockets.add(client).add(upstream);
    client.on("data", (chunk) => {
      if (serverSpoke) tally("roundTrips");
      serverSpoke = false;
      parse.up(chunk, tally);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      serverSpoke = true;
      parse.down(chunk, tally);
      client.write(chunk);
    });
    const end = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const u = new URL(target);
  u.hostname = "127.0.0.1";
  u.port = String((server.address() as { port: number }).port);
  return {
    url: u.toString().replace(/\/$/, ""),
    counts: () => ({ ...totals }),
    close: () => { server.close(); for (const s of sockets) s.destroy(); },
  };
}

/** Keeps the unparsed tail of a stream between chunks. */
function framer(parse: (buf: Buffer, tally: (name: string) => void) => number): Direction {
  let rest: Buffer = Buffer.alloc(0);
  return (chunk, tally) => {
    const buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    rest = buf.subarray(parse(buf, tally));
  };
}

/** Parses complete RESP commands (arrays of bulk strings); returns how far it got. */
function respCommands(buf: Buffer, tally: (name: string) => void): number {
  let pos = 0;
  for (;;) {
    const line = buf.indexOf("\r\n", pos);
    if (line < 0) return pos;
    const n = Number(buf.toString("latin1", pos + 1, line));
    let p = line + 2;
    let name = "";
    for (let k = 0; k < n; k++) {
      const e = buf.indexOf("\r\n", p);
      if (e < 0) return pos;
      const stop = e + 2 + Number(buf.toString("latin1", p + 1, e));
      if (stop + 2 > buf.length) return pos;
      if (k === 0) name = buf.toString("latin1", e + 2, stop).toUpperCase();
      p = stop + 2;
    }
    tally("commands");
    tally(`cmd ${name}`);
    pos = p;
  }
}

export function redisProxy(target: string): Promise<CountingProxy> {
  return proxy(target, 6379, () => ({ up: framer(respCommands), down: () => {} }));
}

/** AMQP 0-9-1 frames: type, channel, size, payload, 0xCE; a method payload starts with class and method ids. */
function amqpMethods(names: Record<string, string>, header: number): Direction {
  let skip = header;
  return framer((buf, tally) => {
    let pos = Math.min(skip, buf.length);
    skip -= pos;
    while (buf.length - pos >= 8) {
      const size = buf.readUInt32BE(pos + 3);
      if (buf.length - pos < size + 8) break;
      if (buf[pos] === 1) {
        const name = names[`${buf.readUInt16BE(pos + 7)}.${buf.readUInt16BE(pos + 9)}`];
        if (name) tally(name);
      }
      pos += size + 8;
    }
    return pos;
  });
}

export function amqpProxy(target: string): Promise<CountingProxy> {
  // A client opens with the 8-byte protocol header "AMQP\0\0\x09\x01" before its first frame.
  return proxy(target, 5672, () => ({
    up: amqpMethods({ "60.40": "publishes" }, 8),
    down: amqpMethods({ "60.60": "deliveries" }, 0),
  }));
}
