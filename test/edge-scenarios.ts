/**
 * Hostile input at a node's edges (issue 13), black-box: ids that are not well-formed
 * Unicode, the largest valid member list, presence between strangers, forwarded client
 * addresses and token lifetimes. Run by protocolScenarios on every runtime and backing,
 * against its node, which SCENARIO_ENV starts with DUPLEX_TRUSTED_PROXIES=127.0.0.2 and
 * DUPLEX_MAX_TOKEN_TTL=2h.
 */
import { expect, test } from "bun:test";
import { sign } from "hono/jwt";
import { api, connect, mintToken, type NodeProc, rawHttp, rawUpgrade } from "./harness.ts";

const uid = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;
/** JSON as a client may write it: every character outside ASCII as \uXXXX, astral ones as two escapes. */
const escaped = (value: unknown) => JSON.stringify(value).replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

export function edgeScenarios(node: () => NodeProc): void {
  test("ids that are not well-formed Unicode are refused at every edge, naming the field", async () => {
    const n = node();
    const victim = uid("victim");
    const forged = await sign({ sub: `\ud800${victim}`, exp: Math.floor(Date.now() / 1000) + 60 }, n.secret, "HS256");
    const upgrade = await rawUpgrade(n.port, `/ws?token=${forged}`);
    expect(upgrade.status).toBe(401);
    expect(JSON.parse(upgrade.body).error).toMatchObject({ code: "unauthorized", message: expect.stringContaining("sub") });
    expect((await api(n, null, "/api/conversations", { token: forged })).body.error.code).toBe("unauthorized");

    const me = uid("u");
    const made = await api(n, me, "/api/conversations", { body: { members: [victim, `\udbff${victim}`] } });
    expect({ status: made.status, error: made.body.error }).toEqual({
      status: 400, error: { code: "bad_request", message: expect.stringContaining('"members" must be a string of 1 to 128 characters, well-formed') },
    });
    const conv = (await api(n, me, "/api/conversations", { body: { members: [victim] } })).body.id as string;
    const a = await connect(n, { user: me });
    a.send({ type: "send", id: "\ud800m", conv, body: 1 });
    expect(await a.next("error")).toMatchObject({ code: "bad_request", id: "\ud800m", message: expect.stringContaining('field "id"') });
    a.send({ type: "sync", id: "s1", conv: `\udfff${conv}`, after: 0 });
    expect(await a.next("error")).toMatchObject({ code: "bad_request", id: "s1", message: expect.stringContaining('field "conv"') });
    a.send({ type: "send", id: "ok", conv, body: "still usable" });
    expect((await a.next("ack")).seq).toBe(1);
    a.close();
  });

  test("1,000 members of 128 astral characters are accepted, even written as escapes; a bigger body is too_large", async () => {
    const me = uid("u");
    const emoji = (n: number) => String.fromCodePoint(0x1f600 + (n % 64));
    // Distinct by their first two characters; 128 characters of 4 UTF-8 bytes (12 escaped) each.
    const members = Array.from({ length: 1000 }, (_, i) => `${emoji(i)}${emoji(i >> 6)}${"😀".repeat(126)}`);
    for (const raw of [JSON.stringify({ members }), escaped({ members })]) {
      const res = await api(node(), me, "/api/conversations", { raw });
      expect({ bytes: raw.length, status: res.status }).toEqual({ bytes: raw.length, status: 201 });
      expect(res.body.members.length).toBe(1001);
    }
    const over = await api(node(), me, "/api/conversations", { raw: escaped({ members, pad: "x".repeat(64 * 1024) }) });
    expect({ status: over.status, code: over.body.error?.code }).toEqual({ status: 413, code: "too_large" });
    const tooLong = await api(node(), me, "/api/conversations", { body: { members: ["😀".repeat(129)] } });
    expect({ status: tooLong.status, code: tooLong.body.error.code }).toEqual({ status: 400, code: "bad_request" });
  });

  test("presence shows users who share a conversation with the caller, and the caller; anyone else is forbidden", async () => {
    const n = node();
    const [me, friend, stranger] = [uid("u"), uid("u"), uid("u")];
    await api(n, me, "/api/conversations", { body: { members: [friend] } });
    const phone = await connect(n, { user: stranger, device: "phone" });
    const asked = await api(n, me, `/api/presence?users=${me},${friend}`);
    expect(asked.status).toBe(200);
    expect(Object.keys(asked.body.users).sort()).toEqual([me, friend].sort());
    const refused = await api(n, me, `/api/presence?users=${friend},${stranger}`);
    expect({ status: refused.status, error: refused.body.error }).toEqual({
      status: 403, error: { code: "forbidden", message: expect.stringContaining(`"${stranger}"`) },
    });
    expect(JSON.stringify(refused.body)).not.toContain("phone");
    expect((await api(n, stranger, `/api/presence?users=${stranger}`)).body.users[stranger].online).toBe(true);
    phone.close();
  });

  test("logs each connection's client address: the peer's own, or a forwarded one only from a trusted proxy", async () => {
    const n = node();
    const loggedIp = async (user: string) => {
      for (const start = Date.now(); Date.now() - start < 10_000; await Bun.sleep(20)) {
        const line = n.output().split("\n").find((l) => l.includes('"msg":"connected"') && l.includes(`"user":"${user}"`));
        if (line) return JSON.parse(line).ip as string | null;
      }
      throw new Error(`no "connected" line for ${user}`);
    };
    const open = async (from: string, headers: Record<string, string> = {}) => {
      const user = uid("ip");
      const res = await rawUpgrade(n.port, `/ws?token=${await mintToken(user, n.secret)}`, headers, from);
      expect(res.status).toBe(101);
      return loggedIp(user);
    };
    expect(await open("127.0.0.1")).toBe("127.0.0.1");
    // 127.0.0.1 is not a trusted proxy here: what it claims is ignored.
    expect(await open("127.0.0.1", { "X-Real-IP": "203.0.113.7", "X-Forwarded-For": "203.0.113.8" })).toBe("127.0.0.1");
    // 127.0.0.2 is: its X-Real-IP, else the nearest untrusted hop of X-Forwarded-For.
    expect(await open("127.0.0.2", { "X-Real-IP": "203.0.113.9" })).toBe("203.0.113.9");
    expect(await open("127.0.0.2", { "X-Forwarded-For": "198.51.100.1, 203.0.113.10, 127.0.0.2" })).toBe("203.0.113.10");
    expect(await open("127.0.0.2", { "X-Real-IP": "not an address" })).toBe("127.0.0.2");
    // A header sent twice reads as the fetch API joins it, on every runtime: two X-Real-IPs are no one address.
    expect(await open("127.0.0.2", { "X-Real-IP": "203.0.113.13", "x-real-ip": "203.0.113.14" })).toBe("127.0.0.2");
  });

  test("a request asking for another protocol (Upgrade: h2c) is served as HTTP/1.1 when it has no body; one with a body is refused on Node and Deno, not served without it", async () => {
    const n = node();
    const h2c = [`Host: 127.0.0.1:${n.port}`, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"];
    const live = await rawHttp(n.port, ["GET /livez HTTP/1.1", ...h2c]);
    expect({ status: live.status, ok: JSON.parse(live.body).ok }).toEqual({ status: 200, ok: true });
    const me = uid("u");
    const auth = `Authorization: Bearer ${await mintToken(me, n.secret)}`;
    // /api/* runs the body limit, which reads the request's body: there is none.
    const listed = await rawHttp(n.port, ["GET /api/conversations HTTP/1.1", ...h2c, auth]);
    expect({ status: listed.status, conversations: JSON.parse(listed.body).conversations }).toEqual({ status: 200, conversations: [] });
    const body = JSON.stringify({ members: [me, uid("peer")] });
    const made = await rawHttp(n.port, ["POST /api/conversations HTTP/1.1", ...h2c, auth, "Content-Type: application/json", `Content-Length: ${body.length}`], body);
    // Bun.serve reads the body whatever the Upgrade header says; Node hands such a request over without it.
    if (n.runtime === "bun") expect(made.status).toBe(201);
    else {
      expect({ status: made.status, error: JSON.parse(made.body).error }).toEqual({
        status: 400, error: { code: "bad_request", message: "a POST request cannot ask for an upgrade here (Upgrade: h2c); send it without the Upgrade header" },
      });
    }
    expect((await api(n, me, "/api/conversations")).status).toBe(200);
  });

  test("a token without exp, or one that would live longer than DUPLEX_MAX_TOKEN_TTL, is refused with 401", async () => {
    const n = node();
    const now = Math.floor(Date.now() / 1000);
    const cases: Record<string, Record<string, unknown>> = {
      "no exp": { sub: uid("u") },
      "exp 3 h away": { sub: uid("u"), exp: now + 3 * 3600 },
    };
    for (const [name, payload] of Object.entries(cases)) {
      const token = await sign(payload, n.secret, "HS256");
      const res = await rawUpgrade(n.port, `/ws?token=${token}`);
      expect({ name, status: res.status }).toEqual({ name, status: 401 });
      expect(JSON.parse(res.body).error).toMatchObject({ code: "unauthorized", message: expect.stringContaining("exp") });
      expect((await api(n, null, "/api/conversations", { token })).status).toBe(401);
    }
    const fine = await sign({ sub: uid("u"), exp: now + 2 * 3600 - 5 }, n.secret, "HS256");
    expect((await rawUpgrade(n.port, `/ws?token=${fine}`)).status).toBe(101);
  });
}
