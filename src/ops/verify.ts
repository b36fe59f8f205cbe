/**
 * `duplex verify`: the black-box protocol scenarios, run against any deployment — a node,
 * nginx in front of a cluster, a compose stack, production. Each scenario uses fresh
 * users, so it can run against live systems without touching real conversations, and the
 * last one deletes every conversation the run created: verify leaves nothing behind.
 */
import { mintToken } from "../http/auth.ts";
import { duplexError } from "../core/errors.ts";
import type { SocketFactory } from "../runtime/runtime.ts";
import { openProbe, type Probe } from "./probe.ts";

export interface Target {
  /** ws[s]://host[:port][/ws] */
  wsUrl: string;
  httpUrl: string;
  secret: string;
  socket: SocketFactory;
}

export interface Scenario {
  name: string;
  run(t: VerifyContext): Promise<void>;
}

export interface VerifyContext {
  target: Target;
  /** A user id unique to this run. */
  user(name: string): string;
  connect(user: string, device?: string): Promise<Probe>;
  http(user: string | null, path: string, body?: unknown, method?: string): Promise<{ status: number; body: any }>;
  /** Creates a conversation, remembered in `created` so that the run can delete it. */
  conversation(owner: string, ...others: string[]): Promise<string>;
  /** Conversations this run created and has not deleted yet → a member to delete them as. */
  created: Map<string, string>;
}

export function targetOf(url: string, secret: string, socket: SocketFactory): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw duplexError("bad_request", `--url must be a ws:// or wss:// URL, got "${url}"`);
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw duplexError("bad_request", `--url must start with ws:// or wss://, got "${url}"`);
  const path = u.pathname === "/" ? "/ws" : u.pathname;
  return { wsUrl: `${u.protocol}//${u.host}${path}`, httpUrl: `${u.protocol === "wss:" ? "https" : "http"}://${u.host}`, secret, socket };
}

export function context(target: Target): VerifyContext {
  const run = crypto.randomUUID().slice(0, 6);
  const bearer = async (user: string) => ({ authorization: `Bearer ${await mintToken(user, target.secret, 600)}` });
  const ctx: VerifyContext = {
    target,
    user: (name) => `v${run}-${name}`,
    async connect(user, device) {
      const q = new URLSearchParams({ token: await mintToken(user, target.secret, 600) });
      if (device) q.set("device", device);
      return openProbe(`${target.wsUrl}?${q}`, target.socket);
    },
    async http(user, path, body, method = body === undefined ? "GET" : "POST") {
      const headers: Record<string, string> = { "content-type": "application/json", ...(user ? await bearer(user) : {}) };
      const res = await fetch(target.httpUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      try {
        return { status: res.status, body: JSON.parse(text) };
      } catch {
        return { status: res.status, body: text };
      }
    },
    async conversation(owner, ...others) {
      const res = await ctx.http(owner, "/api/conversations", { members: others });
      check(res.status === 201, `POST /api/conversations answered ${res.status} ${JSON.stringify(res.body)}`);
      ctx.created.set(res.body.id, owner);
      return res.body.id;
    },
    created: new Map(),
  };
  return ctx;
}

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

const seqs = (p: Probe, conv: string) => p.frames.flatMap((f) => (f.type === "msg" && f.conv === conv ? [f.seq] : []));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export const SCENARIOS: Scenario[] = [
  {
    name: "every other device of every member gets each message, in order; the sender gets the ack",
    async run(t) {
      const [alice, bob] = [t.user("alice"), t.user("bob")];
      const conv = await t.conversation(alice, bob);
      const [phone, laptop, bobPhone] = await Promise.all([t.connect(alice, "phone"), t.connect(alice, "laptop"), t.connect(bob, "phone")]);
      const n = 200;
      for (let i = 1; i <= n; i++) phone.send({ type: "send", id: `m${i}`, conv, body: { i } });
      const acks = await Promise.all(range(1, n).map((i) => phone.next("ack", (f) => f.id === `m${i}`)));
      check(same(acks.map((a) => a.seq).sort((a, b) => a - b), range(1, n)), "acks do not carry seq 1..n");
      for (const device of [laptop, bobPhone]) {
        await device.next("msg", (f) => f.seq === n);
        check(same(seqs(device, conv), range(1, n)), `a device saw seq ${seqs(device, conv).slice(0, 10)}…, not 1..${n} in order`);
      }
      check(seqs(phone, conv).length === 0, "the sending device received its own messages");
      bobPhone.send({ type: "send", id: "reply", conv, body: "hi" });
      await phone.next("msg", (f) => f.id === "reply");
      await laptop.next("msg", (f) => f.id === "reply");
      for (const p of [phone, laptop, bobPhone]) p.close();
    },
  },
  {
    name: "two concurrent senders: every device sees one identical order, each seq once",
    async run(t) {
      const [alice, bob] = [t.user("alice"), t.user("bob")];
      const conv = await t.conversation(alice, bob);
      const [a1, a2, b1, b2] = await Promise.all([t.connect(alice, "a1"), t.connect(alice, "a2"), t.connect(bob, "b1"), t.connect(bob, "b2")]);
      const n = 150;
      for (let i = 0; i < n; i++) {
        a1.send({ type: "send", id: `a${i}`, conv, body: i });
        b1.send({ type: "send", id: `b${i}`, conv, body: i });
      }
      await a2.next("msg", (f) => f.seq === 2 * n, 30_000);
      await b2.next("msg", (f) => f.seq === 2 * n, 30_000);
      const order = (p: Probe) => p.frames.flatMap((f) => (f.type === "msg" && f.conv === conv ? [`${f.seq}:${f.id}`] : []));
      check(same(order(a2), order(b2)), "two devices saw different orders");
      check(same(seqs(a2, conv), range(1, 2 * n)), "seq is not 1..2n without gaps or repeats");
      check(same(order(a2).filter((x) => x.includes(":b")), order(b2).filter((x) => x.includes(":b"))), "orders differ");
      await b1.next("msg", (f) => f.id === `a${n - 1}`);
      check(same(order(b1).map((x) => x.split(":")[1]), order(a2).filter((x) => x.includes(":a")).map((x) => x.split(":")[1])), "the other sender saw a different order");
      for (const p of [a1, a2, b1, b2]) p.close();
    },
  },
  {
    name: "a resent message is stored once and re-acked with the same seq",
    async run(t) {
      const [alice, bob] = [t.user("alice"), t.user("bob")];
      const conv = await t.conversation(alice, bob);
      const [a, b] = await Promise.all([t.connect(alice, "a"), t.connect(bob, "b")]);
      a.send({ type: "send", id: "once", conv, body: 1 });
      const first = await a.next("ack");
      a.send({ type: "send", id: "once", conv, body: 1 });
      const again = await a.next("ack");
      check(same(first, again), `the resend was acked ${JSON.stringify(again)}, not ${JSON.stringify(first)}`);
      a.send({ type: "send", id: "twice", conv, body: 2 });
      await b.next("msg", (f) => f.id === "twice");
      check(same(b.frames.filter((f) => f.type === "msg").map((f) => (f as { id: string }).id), ["once", "twice"]), "the resend was delivered again");
      const history = await t.http(bob, `/api/conversations/${conv}/messages`);
      check(same(history.body.messages.map((m: { id: string }) => m.id), ["once", "twice"]), "history holds the resend twice");
      a.close(); b.close();
    },
  },
  {
    name: "sync replays what came after a seq; HTTP history pages the same",
    async run(t) {
      const [alice, bob] = [t.user("alice"), t.user("bob")];
      const conv = await t.conversation(alice, bob);
      const a = await t.connect(alice, "a");
      for (let i = 1; i <= 30; i++) a.send({ type: "send", id: `s${i}`, conv, body: i });
      await a.next("ack", (f) => f.seq === 30);
      const b = await t.connect(bob, "offline-until-now");
      b.send({ type: "sync", conv, after: 25 });
      const synced = await b.next("synced");
      check(synced.seq === 30, `synced answered ${synced.seq}, not 30`);
      // The fan-out of 1..30 may reach b's node after b connected (a cold cluster): then b gets
      // them live too, and the replay sends only what b did not get. Each seq once, in order.
      const got = seqs(b, conv);
      check(got.every((s, i) => i === 0 || s > got[i - 1]) && same(got.slice(-5), range(26, 30)), `sync replayed ${got}`);
      const page = await t.http(bob, `/api/conversations/${conv}/messages?after=10&limit=5`);
      check(page.status === 200 && same(page.body.messages.map((m: { seq: number }) => m.seq), range(11, 15)), `history answered ${page.status}`);
      a.close(); b.close();
    },
  },
  {
    name: "a read mark reaches only the user's other devices",
    async run(t) {
      const [alice, bob] = [t.user("alice"), t.user("bob")];
      const conv = await t.conversation(alice, bob);
      const [a, a2, b] = await Promise.all([t.connect(alice, "a"), t.connect(alice, "a2"), t.connect(bob, "b")]);
      a.send({ type: "send", id: "r", conv, body: 1 });
      await a.next("ack");
      a.send({ type: "read", conv, seq: 1 });
      const read = await a2.next("read");
      check(same(read, { type: "read", conv, seq: 1, user: alice, device: "a" }), `read frame was ${JSON.stringify(read)}`);
      for (const p of [a, b]) {
        p.send({ type: "ping", ts: 1 });
        await p.next("pong");
      }
      check(!a.frames.some((f) => f.type === "read") && !b.frames.some((f) => f.type === "read"), "a read mark reached the wrong device");
      for (const p of [a, a2, b]) p.close();
    },
  },
  {
    name: "the same device connecting again replaces its old session (4409)",
    async run(t) {
      const alice = t.user("alice");
      const first = await t.connect(alice, "tablet");
      const second = await t.connect(alice, "tablet");
      const closed = await first.closed;
      check(closed.code === 4409, `the old session closed with ${closed.code}, not 4409`);
      second.send({ type: "ping", ts: 2 });
      await second.next("pong");
      second.close();
    },
  },
  {
    name: "refusals: bad token 401, bad frames answered with errors, socket stays usable",
    async run(t) {
      const [alice, bob, carol] = [t.user("alice"), t.user("bob"), t.user("carol")];
      const res = await fetch(`${t.target.httpUrl}/ws?token=not-a-token`);
      check(res.status === 401, `a bad token got ${res.status}, not 401`);
      check((await t.http(null, "/api/conversations", { members: [bob] })).status === 401, "an API call without a token was not refused 401");
      const conv = await t.conversation(alice, bob);
      const theirs = await t.conversation(bob, carol);
      const a = await t.connect(alice);
      const cases: [unknown, string][] = [
        ["{oops", "bad_request"],
        [{ type: "dance", id: "x1" }, "bad_request"],
        [{ type: "send", id: "x2", conv }, "bad_request"],
        [{ type: "send", id: "x3", conv: theirs, body: 1 }, "forbidden"],
        [{ type: "send", id: "x4", conv: "no-such-conversation", body: 1 }, "not_found"],
      ];
      for (const [frame, code] of cases) {
        a.sendRaw(typeof frame === "string" ? frame : JSON.stringify(frame));
        const err = await a.next("error");
        check(err.code === code, `${JSON.stringify(frame)} got ${err.code}, not ${code}`);
      }
      a.send({ type: "send", id: "fine", conv, body: "ok" });
      check((await a.next("ack")).seq === 1, "the socket was not usable after refusals");
      a.close();
    },
  },
  {
    name: "deleting a conversation removes it for its members; every one this run made is deleted",
    async run(t) {
      const [alice, bob, carol] = [t.user("alice"), t.user("bob"), t.user("carol")];
      const conv = await t.conversation(alice, bob);
      const a = await t.connect(alice, "a");
      a.send({ type: "send", id: "bye", conv, body: 1 });
      await a.next("ack");
      a.close();
      const stranger = await t.http(carol, `/api/conversations/${conv}`, undefined, "DELETE");
      check(stranger.status === 403, `a non-member's DELETE answered ${stranger.status}, not 403`);
      for (const [id, member] of t.created) {
        const res = await t.http(member, `/api/conversations/${id}`, undefined, "DELETE");
        check(res.status === 204, `DELETE /api/conversations/${id} answered ${res.status} ${JSON.stringify(res.body)}`);
        t.created.delete(id);
      }
      // Listing reads the store; a history request may meet another node's cached copy.
      const listed = await t.http(alice, "/api/conversations");
      check(same(listed.body.conversations, []), `deleted conversations are still listed: ${JSON.stringify(listed.body)}`);
    },
  },
];

export interface Outcome {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

/** Checks the target answers at all, then runs every scenario, one after another. */
export async function verify(target: Target, scenarios = SCENARIOS): Promise<Outcome[]> {
  try {
    const res = await fetch(`${target.httpUrl}/healthz`);
    if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
  } catch (err) {
    throw duplexError("unavailable", `cannot reach ${target.httpUrl}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const ctx = context(target);
  const out: Outcome[] = [];
  for (const s of scenarios) {
    const start = performance.now();
    try {
      await withTimeout(s.run(ctx), 60_000, s.name);
      out.push({ name: s.name, ok: true, ms: performance.now() - start });
    } catch (err) {
      out.push({ name: s.name, ok: false, ms: performance.now() - start, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<T>((_, fail) => { timer = setTimeout(() => fail(new Error(`${what}: no result within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

export function table(outcomes: Outcome[]): string {
  const width = Math.max(...outcomes.map((o) => o.name.length));
  const lines = outcomes.map((o) => `${o.ok ? "pass" : "FAIL"}  ${o.name.padEnd(width)}  ${o.ms.toFixed(0).padStart(6)} ms${o.error ? `\n      ${o.error}` : ""}`);
  const passed = outcomes.filter((o) => o.ok).length;
  return `${lines.join("\n")}\nverify: ${passed} passed, ${outcomes.length - passed} failed\n`;
}
