import { afterEach, describe, expect, test } from "bun:test";
import { DuplexClient, DuplexError } from "../../src/client/index.ts";
import { settle } from "./fakes.ts";
import { open, type Setup, setup } from "./setup.ts";

let s: Setup;
afterEach(() => s?.client.close());

const states = (x: Setup) => x.seen.state.map((c) => c.state);

describe("connecting", () => {
  test("dials /ws with the token and device and is open on welcome", async () => {
    s = setup({ url: "https://chat.test/duplex" });
    await open(s);
    const url = new URL(s.net.last().url);
    expect(url.origin + url.pathname).toBe("wss://chat.test/duplex/ws");
    expect(url.searchParams.get("token")).toBe("tok");
    expect(url.searchParams.get("device")).toBe("phone");
    expect(states(s)).toEqual(["connecting", "open"]);
    expect(s.client.welcome?.session).toBe("s1");
  });

  test("asks a token function for a fresh token before every dial", async () => {
    let n = 0;
    s = setup({ token: async () => `tok-${++n}` });
    const first = await open(s);
    first.drop(1001, "going away");
    s.clock.advance(1000);
    await settle();
    expect(s.net.sockets.map((x) => new URL(x.url).searchParams.get("token"))).toEqual(["tok-1", "tok-2"]);
  });

  test("reuses the device the node assigned when none was given", async () => {
    s = setup({ device: undefined });
    s.client.connect();
    await settle();
    expect(new URL(s.net.last().url).searchParams.has("device")).toBe(false);
    s.net.last().welcome(1000, "u1", "d-assigned");
    s.net.last().drop(1006);
    await settle();
    s.clock.advance(1000);
    await settle();
    expect(new URL(s.net.last().url).searchParams.get("device")).toBe("d-assigned");
  });

  test("a token function that fails is reported and retried with backoff", async () => {
    let calls = 0;
    s = setup({
      token: async () => {
        if (++calls === 1) throw new Error("auth server down");
        return "tok";
      },
    });
    s.client.connect();
    await settle();
    expect(s.seen.error[0].message).toContain("auth server down");
    expect(s.net.sockets.length).toBe(0);
    s.clock.advance(1000);
    await settle();
    expect(s.net.sockets.length).toBe(1);
  });
});

describe("reconnecting", () => {
  test("backoff follows full jitter over an exponential window, capped", async () => {
    const draws = [0.5, 0.25, 0.999, 0, 0.5, 0.5, 0.5];
    s = setup({ random: () => draws.shift()! });
    s.client.connect();
    await settle();
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      s.net.last().drop(1006);
      await settle();
      const change = s.seen.state.at(-1)!;
      if (change.state !== "reconnecting") throw new Error(`expected reconnecting, got ${change.state}`);
      waits.push(change.delayMs);
      // The dial happens exactly when the delay is up, not before.
      const count = s.net.sockets.length;
      if (change.delayMs > 0) {
        s.clock.advance(change.delayMs - 1);
        await settle();
        expect(s.net.sockets.length).toBe(count);
      }
      s.clock.advance(1);
      await settle();
      expect(s.net.sockets.length).toBe(count + 1);
    }
    // windows: 100, 200, 400, 800, 1000 (cap), 1000, 1000
    expect(waits).toEqual([50, 50, 399, 0, 500, 500, 500]);
  });

  test("a welcome resets the backoff to the first window", async () => {
    s = setup();
    s.client.connect();
    await settle();
    for (let i = 0; i < 3; i++) {
      s.net.last().drop(1006);
      await settle();
      s.clock.advance(1000);
      await settle();
    }
    s.net.last().welcome();
    s.net.last().drop(1001);
    await settle();
    expect(s.seen.state.at(-1)).toMatchObject({ state: "reconnecting", attempt: 1, delayMs: 50 });
  });

  test("reconnects after 1001 and after an abnormal close, then syncs", async () => {
    s = setup();
    const first = await open(s);
    first.msg("c1", 1);
    first.drop(1001, "going away");
    s.clock.advance(1000);
    await settle();
    s.net.last().welcome();
    s.net.last().drop(1006);
    await settle();
    s.clock.advance(1000);
    await settle();
    const third = s.net.last();
    third.welcome();
    expect(s.net.sockets.length).toBe(3);
    expect(third.of("sync")).toEqual([{ type: "sync", conv: "c1", after: 1, id: expect.any(String) }]);
    expect(states(s)).toEqual(["connecting", "open", "reconnecting", "open", "reconnecting", "open"]);
  });

  test("never reconnects after 4409 replaced", async () => {
    s = setup();
    const socket = await open(s);
    socket.drop(4409, "replaced");
    await settle();
    s.clock.advance(60_000);
    await settle();
    expect(s.net.sockets.length).toBe(1);
    expect(s.seen.state.at(-1)).toMatchObject({ state: "closed" });
    expect((s.seen.state.at(-1) as { reason: string }).reason).toContain("replaced");
  });

  test("never reconnects after the upgrade was refused with 401, found by probing the URL", async () => {
    s = setup({}, (call) =>
      call.url.includes("/ws?") ? { status: 401, body: { error: { code: "unauthorized", message: "the access token has expired" } } } : null);
    s.client.connect();
    await settle();
    s.net.last().drop(1006);
    await settle();
    s.clock.advance(60_000);
    await settle();
    expect(s.net.sockets.length).toBe(1);
    expect(s.http.calls.map((c) => c.url)).toEqual(["http://node.test/ws?token=tok&device=phone"]);
    expect(s.seen.error.map((e) => [e.code, e.message])).toEqual([["unauthorized", "the access token has expired"]]);
    expect(s.seen.state.at(-1)).toMatchObject({ state: "closed" });
  });

  test("keeps retrying when the probe cannot reach the node", async () => {
    s = setup({}, () => null);
    s.client.connect();
    await settle();
    s.net.last().drop(1006);
    await settle();
    s.clock.advance(1000);
    await settle();
    expect(s.net.sockets.length).toBe(2);
    expect(s.seen.state.at(-1)).toMatchObject({ state: "reconnecting" });
    expect(s.seen.error).toEqual([]);
  });

  test("does not probe when the socket had opened", async () => {
    s = setup();
    (await open(s)).drop(1006);
    await settle();
    expect(s.http.calls.length).toBe(0);
  });

  test("a dial with no welcome within connectTimeoutMs is abandoned and retried", async () => {
    s = setup({ connectTimeoutMs: 5000 });
    s.client.connect();
    await settle();
    const stuck = s.net.last();
    s.clock.advance(4999);
    expect(stuck.closedWith).toBeNull();
    s.clock.advance(1);
    expect(stuck.closedWith).not.toBeNull();
    expect(s.seen.state.at(-1)).toMatchObject({ state: "reconnecting" });
    s.clock.advance(1000);
    await settle();
    expect(s.net.sockets.length).toBe(2);
  });

  test("close() stops for good and rejects the sends still waiting", async () => {
    s = setup();
    await open(s);
    const waiting = s.client.send("c1", "hi");
    s.client.close();
    await expect(waiting).rejects.toMatchObject({ code: "unavailable" });
    expect(s.net.last().closedWith).toEqual({ code: 1000, reason: "client closed" });
    s.clock.advance(60_000);
    await settle();
    expect(s.net.sockets.length).toBe(1);
    expect(s.client.state).toBe("closed");
  });
});

describe("heartbeats", () => {
  test("pings at the interval welcome announces", async () => {
    s = setup();
    const socket = await open(s, 1000);
    s.clock.advance(999);
    expect(socket.of("ping").length).toBe(0);
    s.clock.advance(1);
    expect(socket.of("ping")).toEqual([{ type: "ping", ts: s.clock.t }]);
    socket.push({ type: "pong" });
    s.clock.advance(1000);
    expect(socket.of("ping").length).toBe(2);
  });

  test("closes a silent node after two heartbeats and reconnects", async () => {
    s = setup();
    const socket = await open(s, 1000);
    s.clock.advance(1999);
    expect(socket.closedWith).toBeNull();
    s.clock.advance(1);
    expect(socket.closedWith).toEqual({ code: 4000, reason: "dead link" });
    expect(s.seen.state.at(-1)).toMatchObject({ state: "reconnecting" });
    s.clock.advance(1000);
    await settle();
    expect(s.net.sockets.length).toBe(2);
  });

  test("any frame counts as life: silence is measured from the last one", async () => {
    s = setup();
    const socket = await open(s, 1000);
    s.clock.advance(1500);
    socket.push({ type: "pong" });
    s.clock.advance(1999);
    expect(socket.closedWith).toBeNull();
    s.clock.advance(1);
    expect(socket.closedWith).not.toBeNull();
  });

  test("heartbeatMs overrides the interval from welcome", async () => {
    s = setup({ heartbeatMs: 300 });
    const socket = await open(s, 25_000);
    s.clock.advance(300);
    expect(socket.of("ping").length).toBe(1);
    socket.push({ type: "pong" });
    s.clock.advance(600);
    expect(socket.closedWith).not.toBeNull();
  });
});

describe("bad options", () => {
  const base = { url: "http://node.test", token: "t", WebSocket: class {} as never, fetch: (async () => new Response()) as never };
  const cases: [string, Record<string, unknown>, string][] = [
    ["an empty token", { token: "" }, "token"],
    ["a device too long", { device: "d".repeat(129) }, "device"],
    ["a relative url", { url: "/ws" }, "url"],
    ["an ftp url", { url: "ftp://x" }, "url"],
    ["a zero heartbeat", { heartbeatMs: 0 }, "heartbeatMs"],
    ["a fractional maxOutbox", { maxOutbox: 1.5 }, "maxOutbox"],
    ["a cap below the base", { backoff: { baseMs: 1000, capMs: 10 } }, "backoff.capMs"],
    ["a shrinking factor", { backoff: { factor: 0.5 } }, "backoff.factor"],
    ["no WebSocket at all", { WebSocket: undefined }, "options.WebSocket"],
  ];
  for (const [what, patch, named] of cases) {
    test(`refuses ${what}, naming ${named}`, () => {
      const saved = globalThis.WebSocket;
      if ("WebSocket" in patch) (globalThis as { WebSocket?: unknown }).WebSocket = undefined;
      try {
        expect(() => new DuplexClient({ ...base, ...patch } as never)).toThrow(named);
        expect(() => new DuplexClient({ ...base, ...patch } as never)).toThrow(DuplexError);
      } finally {
        globalThis.WebSocket = saved;
      }
    });
  }
});
