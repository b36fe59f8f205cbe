/**
 * The protocol scenarios of CONTRACT §2–§4, black-box against running nodes. Exported so
 * every runtime and every backing (embedded, Redis, Redis + RabbitMQ) runs the same ones.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sign } from "hono/jwt";
import { context, SCENARIOS, targetOf } from "../src/ops/verify.ts";
import { redisStores } from "../src/store/redis/stores.ts";
import { edgeScenarios } from "./edge-scenarios.ts";
import { api, closeCodeOf, connect, mintToken, type NodeProc, rawUpgrade, type RuntimeName, startNode } from "./harness.ts";

export const SCENARIO_ENV = {
  DUPLEX_ENV: "production",
  DUPLEX_ALLOWED_ORIGINS: "https://app.example",
  DUPLEX_HEARTBEAT_MS: "2000",
  DUPLEX_RATE: "200",
  DUPLEX_MAX_MESSAGE_BYTES: "4096",
  DUPLEX_MAX_BUFFERED_BYTES: "65536",
  DUPLEX_DRAIN_MS: "500",
  DUPLEX_TRUSTED_PROXIES: "127.0.0.2",
  DUPLEX_MAX_TOKEN_TTL: "2h",
};

const uid = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;

export function protocolScenarios(runtime: RuntimeName, extraEnv: () => Record<string, string> = () => ({})): void {
  describe(`protocol v1 on ${runtime}`, () => {
    let node: NodeProc;
    beforeAll(async () => { node = await startNode({ runtime, env: { ...SCENARIO_ENV, ...extraEnv() } }); });
    afterAll(async () => { await node?.kill(); });

    const conversation = async (owner: string, ...others: string[]) => {
      const res = await api(node, owner, "/api/conversations", { body: { members: others } });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };

    describe("hostile input at the edges", () => edgeScenarios(() => node));

    describe("the scenarios `duplex verify` runs against deployments", () => {
      for (const scenario of SCENARIOS) {
        test(scenario.name, () => scenario.run(context(targetOf(node.wsUrl, node.secret, (url) => new WebSocket(url)))));
      }
    });

    test("answers ping with pong echoing ts", async () => {
      const a = await connect(node, { user: uid("u") });
      a.send({ type: "ping", ts: 12345 });
      expect(await a.next("pong")).toEqual({ type: "pong", ts: 12345 });
      a.send({ type: "ping" });
      expect(await a.next("pong")).toEqual({ type: "pong" });
      expect(a.welcome.heartbeat).toBe(2000);
      a.close();
    });

    test("refuses bad tokens with 401 before the upgrade", async () => {
      const user = uid("u");
      const now = Math.floor(Date.now() / 1000);
      const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
      const cases: Record<string, string | null> = {
        missing: null,
        malformed: "not-a-jwt",
        expired: await sign({ sub: user, exp: now - 60 }, node.secret, "HS256"),
        "wrong signature": await mintToken(user, "another-secret"),
        "alg none": `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: user, exp: now + 60 })}.`,
      };
      for (const [name, token] of Object.entries(cases)) {
        const res = await rawUpgrade(node.port, token === null ? "/ws" : `/ws?token=${encodeURIComponent(token)}`);
        expect({ name, status: res.status }).toEqual({ name, status: 401 });
        expect(JSON.parse(res.body).error.code).toBe("unauthorized");
      }
    });

    test("refuses an upgrade without Sec-WebSocket-Key with 400", async () => {
      const token = await mintToken(uid("u"), node.secret);
      const { connect: tcp } = await import("node:net");
      const answer = await new Promise<string>((done) => {
        const sock = tcp(node.port, "127.0.0.1");
        let data = "";
        sock.on("data", (d) => { data += d; if (data.includes("\r\n\r\n") && data.includes("}")) { sock.destroy(); done(data); } });
        sock.on("close", () => done(data));
        sock.write([`GET /ws?token=${token} HTTP/1.1`, `Host: 127.0.0.1:${node.port}`, "Upgrade: websocket", "Connection: Upgrade", "", ""].join("\r\n"));
      });
      expect(answer).toStartWith("HTTP/1.1 400");
      expect(answer).toContain('"code":"bad_request"');
    });

    test("refuses a disallowed Origin with 403 and admits listed, same-origin and absent ones", async () => {
      const token = await mintToken(uid("u"), node.secret);
      const bad = await rawUpgrade(node.port, `/ws?token=${token}`, { Origin: "https://evil.example" });
      expect(bad.status).toBe(403);
      expect(JSON.parse(bad.body).error.code).toBe("forbidden");
      for (const origin of ["https://app.example", `http://127.0.0.1:${node.port}`, null]) {
        const res = await rawUpgrade(node.port, `/ws?token=${token}`, origin ? { Origin: origin } : {});
        expect({ origin, status: res.status }).toEqual({ origin, status: 101 });
      }
    });

    test("answers each bad frame with error and keeps the connection usable", async () => {
      const [u1, u2] = [uid("u"), uid("u")];
      const conv = await conversation(u1, u2);
      const stranger = await conversation(u2, uid("u"));
      const a = await connect(node, { user: u1 });
      const cases: [string, string, string | undefined][] = [
        ["{not json", "bad_request", undefined],
        ["[1,2]", "bad_request", undefined],
        [JSON.stringify({ type: "dance", id: "q1" }), "bad_request", "q1"],
        [JSON.stringify({ id: "q2" }), "bad_request", "q2"],
        [JSON.stringify({ type: "send", id: "q3", body: 1 }), "bad_request", "q3"],
        [JSON.stringify({ type: "send", id: "q4", conv: 5, body: 1 }), "bad_request", "q4"],
        [JSON.stringify({ type: "send", id: "q5", conv }), "bad_request", "q5"],
        [JSON.stringify({ type: "send", id: "x".repeat(129), conv, body: 1 }), "bad_request", "x".repeat(129)],
        [JSON.stringify({ type: "sync", id: "q6", conv, after: -1 }), "bad_request", "q6"],
        [JSON.stringify({ type: "read", id: "q7", conv, seq: 1.5 }), "bad_request", "q7"],
        [JSON.stringify({ type: "send", id: "q8", conv: stranger, body: 1 }), "forbidden", "q8"],
        [JSON.stringify({ type: "send", id: "q9", conv: "no-such-conv", body: 1 }), "not_found", "q9"],
        [JSON.stringify({ type: "sync", id: "q10", conv: stranger, after: 0 }), "forbidden", "q10"],
      ];
      for (const [raw, code, id] of cases) {
        a.sendRaw(raw);
        const err = await a.next("error");
        expect({ raw, code: err.code as string }).toEqual({ raw, code });
        expect(typeof err.message).toBe("string");
        // Any string id is repeated, even one too long to be valid.
        if (id !== undefined) expect(err.id).toBe(id);
        else expect(err.id).toBeUndefined();
      }
      a.send({ type: "send", id: "ok", conv, body: "still fine" });
      expect((await a.next("ack")).seq).toBe(1);
      a.close();
    });

    test("closes a binary frame with 1003 and an oversized frame with 1009", async () => {
      const a = await connect(node, { user: uid("u") });
      a.sendRaw(new Uint8Array([1, 2, 3]));
      expect((await a.closed).code).toBe(1003);
      const b = await connect(node, { user: uid("u") });
      b.send({ type: "ping", pad: "x".repeat(5000) });
      expect((await b.closed).code).toBe(1009);
    });

    test("answers flooding with rate_limited, then closes a persistent flooder with 1008", async () => {
      const a = await connect(node, { user: uid("u") });
      // Past the burst (5 x 200 frames) every frame is refused...
      for (let i = 0; i < 1100; i++) a.send({ type: "ping", id: `p${i}` });
      const err = await a.next("error", (f) => f.code === "rate_limited");
      expect(err.id).toMatch(/^p\d+$/);
      // ...and a client that keeps going regardless is closed. Frames go in lockstep so that
      // this checks the 1008 alone; test/runtime/close-codes.test.ts floods without pausing.
      let sent = 0;
      while (a.ws.readyState === WebSocket.OPEN && sent < 10_000) {
        a.send({ type: "ping", id: `q${sent}` });
        await Promise.race([a.next("error", (f) => f.id === `q${sent}`).catch(() => {}), a.closed]);
        sent++;
      }
      expect((await a.closed).code).toBe(1008);
      const b = await connect(node, { user: uid("u") });
      b.send({ type: "ping", ts: 1 });
      expect(await b.next("pong")).toEqual({ type: "pong", ts: 1 });
      b.close();
    });

    test("reaps a peer that stops answering pings within two heartbeat intervals", async () => {
      const user = uid("u");
      const token = await mintToken(user, node.secret);
      const { connect: tcp } = await import("node:net");
      const sock = tcp(node.port, "127.0.0.1");
      sock.write([`GET /ws?token=${token}&device=mute HTTP/1.1`, `Host: 127.0.0.1:${node.port}`, "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "", ""].join("\r\n"));
      const online = async () => (await api(node, user, `/api/presence?users=${user}`)).body.users[user].online as boolean;
      const start = Date.now();
      while (!(await online())) {
        if (Date.now() - start > 5000) throw new Error("the silent peer never registered");
        await Bun.sleep(50);
      }
      const silentSince = Date.now();
      // The raw socket never answers a ping: once the heartbeat notices, the session is gone.
      // The bound is the contract's two intervals plus a quarter interval of polling slack.
      while (await online()) {
        if (Date.now() - silentSince > 2 * 2000 + 500) throw new Error("silent peer still online after two heartbeat intervals");
        await Bun.sleep(100);
      }
      console.log(`${runtime}: silent peer reaped after ${Date.now() - silentSince} ms (heartbeat 2000 ms)`);
      sock.destroy();
    });

    test("closes a reader that stops reading once its unsent buffer passes the bound", async () => {
      const [u1, u2] = [uid("u"), uid("u")];
      const conv = await conversation(u1, u2);
      const token = await mintToken(u2, node.secret);
      const { connect: tcp } = await import("node:net");
      // Upgrades, then never reads a byte: the kernel buffers fill, then the node's.
      const sock = tcp(node.port, "127.0.0.1");
      sock.write([`GET /ws?token=${token}&device=slow HTTP/1.1`, `Host: 127.0.0.1:${node.port}`, "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "", ""].join("\r\n"));
      sock.pause();
      // One sender at a time, so no sender is itself a slow reader of the others' messages.
      const body = "x".repeat(3800);
      const deadline = Date.now() + 30_000;
      for (let round = 0; !/slow consumer closed/.test(node.output()); round++) {
        if (Date.now() > deadline || round > 20) throw new Error(`the slow reader was never closed:\n${node.output().slice(-3000)}`);
        const sender = await connect(node, { user: u1, device: `s${round}` });
        for (let k = 0; k < 900; k++) sender.send({ type: "send", id: `${round}-${k}`, conv, body });
        await sender.next("ack", (f) => f.id === `${round}-899`, 30_000).catch((e) => { throw new Error(`${e.message}\n${node.output().slice(-2000)}`); });
        sender.close();
      }
      // It reads again only after the node gave up on it (later than Bun keeps a closed
      // socket's queue on its own, about 4 s): the close frame, 1013, follows what was queued.
      await Bun.sleep(5000);
      const code = closeCodeOf(sock);
      sock.resume();
      expect(await code).toBe(1013);
      const presence = await api(node, u2, `/api/presence?users=${u2}`);
      expect(presence.body.users[u2].online).toBe(false);
      const after = await connect(node, { user: u1 });
      after.send({ type: "ping", ts: 3 });
      expect(await after.next("pong")).toEqual({ type: "pong", ts: 3 });
      after.close();
      sock.destroy();
    });

    test("HTTP API: validates bodies, requires a bearer token, guards membership", async () => {
      const [u1, u2] = [uid("u"), uid("u")];
      expect((await api(node, null, "/api/conversations", { body: { members: [u2] } })).status).toBe(401);
      const made = await api(node, u1, "/api/conversations", { body: { members: [u2, u2] } });
      expect(made.status).toBe(201);
      expect(made.body.members.sort()).toEqual([u1, u2].sort());
      const bad: [unknown, number, string][] = [
        [{ members: "u2" }, 400, "bad_request"],
        [{ members: [] }, 400, "bad_request"],
        [{ members: [""] }, 400, "bad_request"],
        [{ members: [7] }, 400, "bad_request"],
        [{ members: Array.from({ length: 1001 }, (_, i) => `m${i}`) }, 400, "bad_request"],
        [{ members: ["x".repeat(1600 * 1024)] }, 413, "too_large"],
      ];
      for (const [body, status, code] of bad) {
        const res = await api(node, u1, "/api/conversations", { body });
        expect({ status: res.status, code: res.body.error.code }).toEqual({ status, code });
      }
      expect((await api(node, u1, "/api/conversations", { raw: "{oops" })).body.error.code).toBe("bad_request");
      const conv = made.body.id;
      expect((await api(node, uid("x"), `/api/conversations/${conv}/messages`)).body.error.code).toBe("forbidden");
      expect((await api(node, u1, `/api/conversations/nope/messages`)).status).toBe(404);
      expect((await api(node, u1, `/api/conversations/${conv}/messages?limit=1001`)).status).toBe(400);
      expect((await api(node, u1, `/api/conversations/${conv}/messages?after=-3`)).status).toBe(400);
      expect((await api(node, u1, "/api/dev/token", { body: { user: "x" } })).status).toBe(404);
    });

    test("HTTP API: lists the caller's conversations, newest first", async () => {
      const [u1, u2, u3] = [uid("u"), uid("u"), uid("u")];
      const first = await conversation(u1, u2);
      await Bun.sleep(2);
      const second = await conversation(u2, u3);
      const ids = async (user: string, query = "") => {
        const res = await api(node, user, `/api/conversations${query}`);
        expect(res.status).toBe(200);
        return res.body.conversations.map((c: { id: string }) => c.id);
      };
      expect(await ids(u2)).toEqual([second, first]);
      expect(await ids(u1)).toEqual([first]);
      expect(await ids(u2, "?limit=1")).toEqual([second]);
      expect((await api(node, u3, "/api/conversations")).body.conversations[0].members.sort()).toEqual([u2, u3].sort());
      expect(await ids(uid("nobody"))).toEqual([]);
      expect((await api(node, null, "/api/conversations")).status).toBe(401);
      for (const limit of ["0", "1001", "x"]) {
        expect((await api(node, u1, `/api/conversations?limit=${limit}`)).body.error).toMatchObject({ code: "bad_request", message: expect.stringContaining('"limit"') });
      }
    });

    test("HTTP API: a member deletes a conversation for everyone; others get 401, 403 or 404", async () => {
      const [u1, u2] = [uid("u"), uid("u")];
      const conv = await conversation(u1, u2);
      const del = (user: string | null, id = conv) => api(node, user, `/api/conversations/${id}`, { method: "DELETE" });
      expect((await del(null)).status).toBe(401);
      expect((await del(uid("x"))).body.error.code).toBe("forbidden");
      const done = await del(u2);
      expect({ status: done.status, body: done.body }).toEqual({ status: 204, body: "" });
      expect((await api(node, u1, `/api/conversations/${conv}/messages`)).status).toBe(404);
      expect((await api(node, u1, "/api/conversations")).body.conversations).toEqual([]);
      expect((await del(u1)).body.error.code).toBe("not_found");
    });
  });

  describe(`hostile input on ${runtime}`, () => {
    // Frames up to 1 MiB, so that a body nested 100,000 levels (200 KB) reaches the parser:
    // JSON.stringify overflows Node's stack at about 5,000 levels and Bun's at about 50,000.
    let node: NodeProc;
    beforeAll(async () => { node = await startNode({ runtime, env: { ...SCENARIO_ENV, ...extraEnv(), DUPLEX_MAX_MESSAGE_BYTES: String(1 << 20) } }); });
    afterAll(async () => { await node?.kill(); });
    const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels);

    test("a send whose body nests past DUPLEX_MAX_BODY_DEPTH is refused bad_request; the node and every socket serve on", async () => {
      const [u1, u2] = [uid("u"), uid("u")];
      const conv = (await api(node, u1, "/api/conversations", { body: { members: [u2] } })).body.id as string;
      const sender = await connect(node, { user: u1, device: "phone" });
      const tablet = await connect(node, { user: u1, device: "tablet" });
      const reader = await connect(node, { user: u2, device: "laptop" });
      for (const levels of [100_000, 33]) {
        sender.sendRaw(`{"type":"send","id":"deep-${levels}","conv":"${conv}","body":${deep(levels)}}`);
        const err = await sender.next("error", (f) => f.id === `deep-${levels}`);
        expect(err.code).toBe("bad_request");
        expect(err.message).toContain('field "body"');
        expect(err.message).toContain("DUPLEX_MAX_BODY_DEPTH");
      }
      const atLimit = JSON.parse(deep(32));
      sender.send({ type: "send", id: "ok", conv, body: atLimit });
      expect((await sender.next("ack")).seq).toBe(1);
      for (const other of [tablet, reader]) expect((await other.next("msg")).body).toEqual(atLimit);
      for (const ws of [sender, tablet, reader]) expect(ws.ws.readyState).toBe(WebSocket.OPEN);
      expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
      for (const ws of [sender, tablet, reader]) ws.close();
    });

    test("an HTTP body nested past DUPLEX_MAX_BODY_DEPTH is refused 400 bad_request", async () => {
      const res = await api(node, uid("u"), "/api/conversations", { raw: `{"members":["${uid("u")}"],"extra":${deep(100_000)}}` });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("bad_request");
      expect(res.body.error.message).toContain("DUPLEX_MAX_BODY_DEPTH");
    });
  });

  describe(`lifecycle on ${runtime}`, () => {
    test("SIGTERM closes every socket with 1001, drops its sessions and exits 0", async () => {
      const env: Record<string, string> = { ...SCENARIO_ENV, ...extraEnv() };
      const node = await startNode({ runtime, env });
      const users = [uid("u"), uid("u")];
      const a = await connect(node, { user: users[0], device: "x" });
      const b = await connect(node, { user: users[1], device: "y" });
      for (const user of users) expect((await api(node, user, `/api/presence?users=${user}`)).body.users[user].online).toBe(true);
      const code = await node.stop("SIGTERM");
      expect((await a.closed).code).toBe(1001);
      expect((await b.closed).code).toBe(1001);
      expect(code).toBe(0);
      // Where sessions outlive the process, they are gone at once, not when their TTL runs out.
      if (env.REDIS_URL) {
        const stores = await redisStores(env.REDIS_URL, { namespace: env.DUPLEX_NAMESPACE ?? "duplex", historyLimit: 10 });
        try {
          for (const user of users) expect(await stores.sessions.byUser(user)).toEqual([]);
        } finally {
          await stores.close();
        }
      }
    });

    test("development mode: dev tokens work and the first-minute URL is printed", async () => {
      const node = await startNode({ runtime, env: { ...extraEnv(), DUPLEX_JWT_SECRET: "" } });
      const res = await fetch(`${node.url}/api/dev/token`, { method: "POST", body: JSON.stringify({ user: "bob" }), headers: { "content-type": "application/json" } });
      const { token } = await res.json() as { token: string };
      const bob = await connect(node, { user: "bob", token });
      expect(bob.welcome.user).toBe("bob");
      expect(node.output()).toContain(`ws://127.0.0.1:${node.port}/ws?token=`);
      // Tokens go to people, never into log lines.
      for (const line of node.output().split("\n").filter((l) => l.startsWith("{"))) expect(line).not.toContain("eyJ");
      bob.close();
      await node.kill();
    });
  });
}
