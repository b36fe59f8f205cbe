/**
 * The wire of each system under test, seen from a load client. Every system gets the
 * same client (Node + ws) and differs only here, so client-side costs are equal:
 * - duplex: the duplex.v1 protocol (CONTRACT §4);
 * - bare: the Bun.serve floor (bench/baseline/bare-bun.ts), which speaks the same frames;
 * - socketio: Engine.IO 4 / Socket.IO 5 packets over a plain WebSocket, as socket.io-client
 *   sends them with `transports: ["websocket"]` (auth in the CONNECT packet, acks by id).
 */
export type Proto = "duplex" | "bare" | "socketio";

/** What a load client cares about in a server frame. */
export type Incoming =
  | { kind: "welcome" }
  | { kind: "ack"; id: string }
  | { kind: "error"; id?: string; code: string }
  /** A delivered message: `g` is the load tag and `t` the sender's wall clock (ms) at send. */
  | { kind: "msg"; g: string; t: number }
  | null;

export interface Who {
  user: string;
  device: string;
  token: string;
}

/** One socket's view of its protocol. */
export interface Wire {
  /** The frame that sends one message and asks for its ack. */
  send(id: string, conv: string, body: unknown): string;
  /** Classifies a frame; `reply` writes protocol-level answers (Engine.IO pong, CONNECT). */
  receive(text: string, reply: (frame: string) => void): Incoming;
}

export function socketUrl(proto: Proto, base: string, who: Who): string {
  const q = new URLSearchParams({ device: who.device });
  if (proto === "duplex") q.set("token", who.token);
  if (proto === "bare") q.set("user", who.user);
  if (proto === "socketio") {
    q.set("EIO", "4");
    q.set("transport", "websocket");
    return `${base}/socket.io/?${q}`;
  }
  return `${base}/ws?${q}`;
}

export function wire(proto: Proto, who: Who): Wire {
  return proto === "socketio" ? socketIoWire(who) : jsonWire();
}

/** A load message body: the tag and the send time; read back without a full parse. */
export function stamp(tag: string, wallMs: number): { g: string; t: number } {
  return { g: tag, t: wallMs };
}

function readStamp(text: string): Incoming {
  const g = text.indexOf('"g":"');
  if (g < 0) return null;
  const gEnd = text.indexOf('"', g + 5);
  const t = text.indexOf('"t":', gEnd);
  if (t < 0) return null;
  return { kind: "msg", g: text.slice(g + 5, gEnd), t: Number.parseFloat(text.slice(t + 4, t + 30)) };
}

function jsonWire(): Wire {
  return {
    send: (id, conv, body) => JSON.stringify({ type: "send", id, conv, body }),
    receive(text) {
      if (text.startsWith('{"type":"msg"')) return readStamp(text);
      const f = JSON.parse(text);
      if (f.type === "welcome") return { kind: "welcome" };
      if (f.type === "ack") return { kind: "ack", id: f.id };
      if (f.type === "error") return { kind: "error", id: f.id, code: f.code };
      return null;
    },
  };
}

function socketIoWire(who: Who): Wire {
  let nextAck = 0;
  const acks = new Map<number, string>();
  return {
    send(id, conv, body) {
      const n = nextAck++;
      acks.set(n, id);
      return `42${n}${JSON.stringify(["send", { id, conv, body }])}`;
    },
    receive(text, reply) {
      if (text.startsWith('42["msg"')) return readStamp(text);
      if (text === "2") { reply("3"); return null; }
      if (text[0] === "0") { reply(`40${JSON.stringify({ token: who.token, device: who.device })}`); return null; }
      if (text.startsWith('42["welcome"')) return { kind: "welcome" };
      if (text.startsWith("43")) {
        const open = text.indexOf("[");
        const n = Number(text.slice(2, open));
        const id = acks.get(n) ?? "";
        acks.delete(n);
        const [answer] = JSON.parse(text.slice(open));
        return answer?.error ? { kind: "error", id, code: answer.error.code } : { kind: "ack", id };
      }
      if (text.startsWith("44")) return { kind: "error", code: JSON.parse(text.slice(2)).message ?? "connect_error" };
      return null;
    },
  };
}
