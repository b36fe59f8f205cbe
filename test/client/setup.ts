/** A DuplexClient wired to fakes, with every event it emits recorded. */
import { type ClientEvents, type ClientOptions, DuplexClient } from "../../src/client/index.ts";
import { FakeClock, type FetchCall, fakeFetch, fakeNet, settle } from "./fakes.ts";

type Seen = { [K in keyof ClientEvents]: ClientEvents[K][] };

/** What a node answers to a plain GET /ws with a valid token: not a WebSocket request. */
const notAnUpgrade = { status: 400, body: { error: { code: "bad_request", message: "this endpoint only speaks WebSocket" } } };

export function setup(options: Partial<ClientOptions> = {}, answer: (call: FetchCall) => { status: number; body: unknown } | null = () => notAnUpgrade) {
  const clock = new FakeClock();
  const net = fakeNet();
  const http = fakeFetch(answer);
  const client = new DuplexClient({
    url: "http://node.test",
    token: "tok",
    device: "phone",
    WebSocket: net.WebSocket,
    fetch: http.fetch,
    clock,
    random: () => 0.5,
    backoff: { baseMs: 100, capMs: 1000, factor: 2 },
    ...options,
  });
  const seen: Seen = { msg: [], read: [], ack: [], state: [], error: [] };
  for (const type of Object.keys(seen) as (keyof ClientEvents)[]) {
    client.on(type, (value) => (seen[type] as unknown[]).push(value));
  }
  return { client, clock, net, http, seen };
}

export type Setup = ReturnType<typeof setup>;

/** Connects and answers with a welcome; returns the socket. */
export async function open(s: Setup, heartbeat = 1000) {
  s.client.connect();
  await settle();
  const socket = s.net.last();
  socket.welcome(heartbeat);
  return socket;
}

/** Fires the reconnect timer (its delay is at most the cap) and welcomes the new socket. */
export async function reopen(s: Setup, heartbeat = 1000) {
  const before = s.net.sockets.length;
  s.clock.advance(1000);
  await settle();
  if (s.net.sockets.length !== before + 1) throw new Error("the client did not dial again");
  const socket = s.net.last();
  socket.welcome(heartbeat);
  return socket;
}

/** For sends a test leaves pending: closing the client rejects them, which is not this test's point. */
export function unawaited(p: Promise<unknown>): void {
  p.catch(() => {});
}
