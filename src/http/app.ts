/**
 * The HTTP surface (CONTRACT §2) and the door to the WebSocket (§4): auth and Origin are
 * checked here, before any upgrade, so a refused client gets a plain 401/403 with a body.
 */
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { bearer, mintToken, verifyToken } from "./auth.ts";
import { clientAddress } from "../core/client-ip.ts";
import { type Config, MIN_BODY_BYTES } from "../core/config.ts";
import { DuplexError, duplexError } from "../core/errors.ts";
import type { Hub } from "../core/hub.ts";
import { errorFields, type Logger } from "../core/log.ts";
import { ID_RULE, isId, jsonOrNull, MAX_MEMBERS, nestsDeeperThan } from "../core/protocol.ts";
import type { SocketEvents, SocketSeam } from "../core/socket.ts";
import type { Stores } from "../core/ports/store.ts";

/** The runtime's upgrade: answers the request with 101 and hands the socket to `open`. */
export type Upgrade = (c: Context, open: (seam: SocketSeam) => SocketEvents) => Response | Promise<Response>;

export interface AppDeps {
  hub: Hub;
  stores: Stores;
  config: Config;
  /** The secret that verifies tokens (the configured one, or the dev one). */
  secret: string;
  upgrade: Upgrade;
  /** The runtime's address of the request's TCP peer; null if unknown. */
  peer(c: Context): string | null;
  /** Readiness beyond the stores: the broker connected and consuming. */
  health(): { ready: boolean; [k: string]: unknown };
  /** True once shutdown began: no new upgrades, and load balancers should look elsewhere. */
  draining(): boolean;
  /** Prometheus text for GET /metrics. */
  metrics(): Promise<string>;
  assets: { page: string; client: string };
  log: Logger;
}

const MAX_PRESENCE = 100;

export function createApp(d: AppDeps): Hono {
  const app = new Hono();
  const { config, hub, stores } = d;
  const devTokens = !config.production && !config.jwtSecret;

  app.onError((err, c) => {
    const e = err instanceof DuplexError ? err : duplexError("unavailable", "internal error; retry later");
    hub.refusedRequest(e);
    if (!(err instanceof DuplexError)) d.log.error("request failed", { path: c.req.path, ...errorFields(err) });
    // The client is told to retry; the operator learns why, with the addresses involved.
    else if (e.code === "unavailable") d.log.warn("request refused", { path: c.req.path, ...errorFields(err) });
    return c.json({ error: e.toJSON() }, e.status);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  const maxBody = Math.max(config.maxMessageBytes, MIN_BODY_BYTES);
  app.use("/api/*", bodyLimit({
    maxSize: maxBody,
    onError: () => { throw duplexError("too_large", `request body over ${maxBody} bytes`); },
  }));

  const user = (c: Context) => verifyToken(bearer(c.req.header("authorization")), d.secret, config.maxTokenTtl);

  app.get("/", (c) => c.html(d.assets.page));
  app.get("/client.js", (c) => c.body(d.assets.client, 200, { "content-type": "text/javascript; charset=utf-8" }));

  // /livez: the process serves. /healthz and /readyz: it should get traffic — store and
  // broker connected, and not draining.
  const readiness = () => {
    const h = { ...d.health(), node: hub.nodeId, connections: hub.connections, draining: d.draining() };
    const ready = h.ready && stores.ready() && !h.draining;
    return { ok: ready, ...h, ready, store: stores.ready() };
  };
  app.get("/livez", (c) => c.json({ ok: true, node: hub.nodeId }));
  for (const path of ["/healthz", "/readyz"]) {
    app.get(path, (c) => {
      const r = readiness();
      return c.json(r, r.ready ? 200 : 503);
    });
  }
  app.get("/metrics", async (c) => c.body(await d.metrics(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }));

  app.post("/api/dev/token", async (c) => {
    if (!devTokens) throw duplexError("not_found", "dev tokens are off: DUPLEX_JWT_SECRET is set or DUPLEX_ENV=production");
    const body = await json(c, config.maxBodyDepth);
    if (typeof body.user !== "string" || !isId(body.user)) throw duplexError("bad_request", `field "user" must be ${ID_RULE}`);
    return c.json({ token: await mintToken(body.user, d.secret, Math.min(3600, config.maxTokenTtl)) });
  });

  app.post("/api/conversations", async (c) => {
    const me = await user(c);
    const body = await json(c, config.maxBodyDepth);
    const members = body.members;
    if (!Array.isArray(members) || members.length < 1 || members.length > MAX_MEMBERS) {
      throw duplexError("bad_request", `field "members" must be an array of 1 to ${MAX_MEMBERS} user ids`);
    }
    if (!members.every(isId)) throw duplexError("bad_request", `every entry of "members" must be ${ID_RULE}`);
    const conv = await stores.messages.createConversation([...new Set([me, ...members as string[]])]);
    return c.json(conv, 201);
  });

  app.get("/api/conversations", async (c) => {
    const me = await user(c);
    const limit = intParam(c.req.query("limit"), "limit", 1, 1000, 100);
    return c.json({ conversations: await stores.messages.conversationsOf(me, limit) });
  });

  app.get("/api/conversations/:id/messages", async (c) => {
    const me = await user(c);
    const conv = c.req.param("id");
    if (!isId(conv)) throw duplexError("bad_request", `the conversation id in the path must be ${ID_RULE}`);
    const after = intParam(c.req.query("after"), "after", 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = intParam(c.req.query("limit"), "limit", 1, 1000, 100);
    await hub.member(conv, me);
    // A stored message this runtime cannot encode (nested past its stack, stored before the
    // depth limit) is left out, logged and counted: not the whole page, nor the process.
    const texts = (await stores.messages.range(conv, after, limit)).flatMap((m) => {
      const text = jsonOrNull(m);
      if (text === null) hub.unencodable({ type: "history", conv, seq: m.seq });
      return text === null ? [] : [text];
    });
    return c.body(`{"messages":[${texts.join(",")}]}`, 200, { "content-type": "application/json" });
  });

  app.delete("/api/conversations/:id", async (c) => {
    await hub.deleteConversation(c.req.param("id"), await user(c));
    return c.body(null, 204);
  });

  app.get("/api/presence", async (c) => {
    const me = await user(c);
    const users = (c.req.query("users") ?? "").split(",").filter(Boolean);
    if (users.length < 1 || users.length > MAX_PRESENCE || !users.every(isId)) {
      throw duplexError("bad_request", `query "users" must list 1 to ${MAX_PRESENCE} comma-separated user ids, each ${ID_RULE}`);
    }
    // Who is online, and on which devices, is shown only to people who talk with them.
    const shared = await stores.messages.shareConversation(me, users);
    const stranger = users.find((_, i) => !shared[i]);
    if (stranger !== undefined) {
      throw duplexError("forbidden", `presence is shown for yourself and the users you share a conversation with; "${stranger}" is neither`);
    }
    const sessions = await Promise.all(users.map((u) => stores.sessions.byUser(u)));
    return c.json({
      users: Object.fromEntries(users.map((u, i) => [u, {
        online: sessions[i].length > 0,
        devices: sessions[i].map((s) => ({ device: s.device, node: s.node, since: s.connectedAt })),
      }])),
    });
  });

  app.get("/ws", async (c) => {
    if (!readiness().ready) throw duplexError("unavailable", "this node is not ready (draining, or its store or broker is away); connect to another");
    checkOrigin(c, config);
    const me = await verifyToken(c.req.query("token"), d.secret, config.maxTokenTtl);
    const asked = c.req.query("device");
    if (asked !== undefined && !isId(asked)) throw duplexError("bad_request", `query "device" must be ${ID_RULE}`);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw duplexError("bad_request", "this endpoint only speaks WebSocket (Upgrade: websocket)");
    }
    if (!c.req.header("sec-websocket-key") || c.req.header("sec-websocket-version") !== "13") {
      throw duplexError("bad_request", "a WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13");
    }
    const device = asked ?? `d-${crypto.randomUUID().slice(0, 8)}`;
    const ip = clientAddress(d.peer(c), (name) => c.req.header(name), config.trustedProxies);
    return d.upgrade(c, opener(hub, { user: me, device, ip }));
  });

  return app;
}

/**
 * What the socket keeps is made outside the request's handler: a closure made inside that
 * async function would keep its whole frame (on Bun, the request and its headers too) for
 * as long as the socket lives.
 */
function opener(hub: Hub, who: { user: string; device: string; ip: string | null }): (seam: SocketSeam) => SocketEvents {
  return (seam) => hub.open(seam, who);
}

function checkOrigin(c: Context, config: Config): void {
  const origin = c.req.header("origin");
  if (!origin) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw duplexError("forbidden", "the Origin header is not a valid origin");
  }
  if (host === c.req.header("host")) return;
  const allowed = config.allowedOrigins;
  if (allowed ? allowed.includes(origin) : !config.production) return;
  throw duplexError("forbidden", `origin ${origin} is not allowed (DUPLEX_ALLOWED_ORIGINS)`);
}

async function json(c: Context, maxDepth: number): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    if (err instanceof DuplexError) throw err;
    throw duplexError("bad_request", "the request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw duplexError("bad_request", "the request body must be a JSON object");
  if (nestsDeeperThan(body, maxDepth)) throw duplexError("bad_request", `the request body must nest at most ${maxDepth} levels deep (DUPLEX_MAX_BODY_DEPTH)`);
  return body as Record<string, unknown>;
}

function intParam(raw: string | undefined, name: string, min: number, max: number, fallback: number): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw duplexError("bad_request", `query "${name}" must be an integer from ${min} to ${max}`);
  return n;
}
