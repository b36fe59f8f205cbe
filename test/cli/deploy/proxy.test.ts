/**
 * Real traffic through the generated nginx configs: a node behind nginx, reached over ws and
 * over wss (a self-signed certificate made here), checked from the client and from the node.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { connect as tcp } from "node:net";
import { join } from "node:path";
import type { NginxFlags } from "../../../src/cli/deploy/nginx.ts";
import { api, connect, mintToken, type NodeProc, startNode } from "../../harness.ts";
import { cleanUpAfterAll, freePort, type Nginx, run, scratchDir, selfSigned, startNginx, startProcess, waitForPort } from "./support.ts";

cleanUpAfterAll();

const DOMAIN = "chat.example.test";

interface Proxy extends Nginx {
  node: NodeProc;
}

/** A node, and nginx in front of it running the generated complete config. */
async function proxied(flags: NginxFlags): Promise<Proxy> {
  const node = await startNode();
  try {
    const nginx = await startNginx({ domain: DOMAIN, upstream: [`127.0.0.1:${node.port}`], ...flags });
    return { ...nginx, node, stop: async () => { await nginx.stop(); await node.kill(); } };
  } catch (err) {
    await node.kill();
    throw err;
  }
}

const uid = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;

/** Sends through one device and expects the ack there and the message on the other device. */
async function sendAndDeliver(base: string, wsUrl: string, secret: string): Promise<void> {
  const user = uid("alice");
  const conv = (await api({ url: base, secret }, user, "/api/conversations", { body: { members: [uid("bob")] } })).body.id;
  const phone = await connect({ wsUrl, secret }, { user, device: "phone" });
  const laptop = await connect({ wsUrl, secret }, { user, device: "laptop" });
  phone.send({ type: "send", id: "m1", conv, body: "through nginx" });
  expect((await phone.next("ack")).seq).toBe(1);
  const msg = await laptop.next("msg");
  expect(msg).toMatchObject({ conv, seq: 1, body: "through nginx", from: { user, device: "phone" } });
  phone.close();
  laptop.close();
  await Promise.all([phone.closed, laptop.closed]);
}

/** The `ip` of the node's "connected" log line for `user`, once it is there. */
async function loggedIp(node: NodeProc, user: string): Promise<unknown> {
  for (let i = 0; i < 50; i++) {
    const line = node.output().split("\n").find((l) => l.includes('"msg":"connected"') && l.includes(`"user":"${user}"`));
    if (line) return JSON.parse(line).ip;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no "connected" log line for ${user}:\n${node.output()}`);
}

/** Lines of the site's access log for `path`, waiting for nginx to write them (a WebSocket's at close). */
async function accessLog(dir: string, count: number): Promise<string> {
  const file = join(dir, "logs", `${DOMAIN}.access.log`);
  let text = "";
  for (let i = 0; i < 50; i++) {
    text = await readFile(file, "utf8").catch(() => "");
    if (text.split("\n").filter((l) => l.includes(" /ws ")).length >= count) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${count} /ws lines in ${file}:\n${text}`);
}

/** An upgrade request sent from a chosen loopback address; resolves with the status code. */
function upgradeFrom(localAddress: string, port: number, path: string): Promise<number> {
  return new Promise((ok, fail) => {
    const sock = tcp({ host: "127.0.0.1", port, localAddress });
    sock.on("connect", () => sock.write([
      `GET ${path} HTTP/1.1`, `Host: ${DOMAIN}`, "Upgrade: websocket", "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "", "",
    ].join("\r\n")));
    sock.on("data", (d) => { sock.destroy(); ok(Number(d.toString().match(/^HTTP\/1\.1 (\d{3})/)?.[1])); });
    sock.on("error", fail);
    setTimeout(() => { sock.destroy(); fail(new Error("no answer to the upgrade")); }, 10_000);
  });
}

describe("a node behind the generated ws config", () => {
  let p: Proxy;
  beforeAll(async () => { p = await proxied({}); }, 60_000);
  afterAll(async () => { await p?.stop(); }, 20_000);

  test("upgrades, acks a send and delivers it to the user's other device", async () => {
    await sendAndDeliver(`http://127.0.0.1:${p.httpPort}`, `ws://127.0.0.1:${p.httpPort}/ws`, p.node.secret);
  });

  test("passes the demo page and /healthz through to the node", async () => {
    const [direct, proxied] = await Promise.all([fetch(`${p.node.url}/`), fetch(`http://127.0.0.1:${p.httpPort}/`)]);
    expect(proxied.status).toBe(direct.status);
    expect(await proxied.text()).toBe(await direct.text());
    const health = await fetch(`http://127.0.0.1:${p.httpPort}/healthz`);
    expect(health.status).toBe(200);
    expect((await health.json()).node).toBe(p.node.nodeId);
  });

  test("tells the node the client's address in X-Real-IP, overwriting one the client sent", async () => {
    const user = uid("carol");
    const client = await connect({ wsUrl: `ws://127.0.0.1:${p.httpPort}/ws`, secret: p.node.secret }, {
      user, headers: { "X-Real-IP": "203.0.113.7" },
    });
    expect(await loggedIp(p.node, user)).toBe("127.0.0.1");
    client.close();
  });

  test("passes on the address of a client on another loopback address", async () => {
    const user = uid("dave");
    const token = await mintToken(user, p.node.secret);
    expect(await upgradeFrom("127.0.0.2", p.httpPort, `/ws?token=${token}`)).toBe(101);
    expect(await loggedIp(p.node, user)).toBe("127.0.0.2");
  });

  test("writes WebSocket requests to the access log without their token", async () => {
    const user = uid("erin");
    const token = await mintToken(user, p.node.secret);
    const client = await connect({ wsUrl: `ws://127.0.0.1:${p.httpPort}/ws`, secret: p.node.secret }, { user, token });
    client.close();
    await client.closed;
    const log = await accessLog(p.dir, 4);
    expect(log).toContain('"GET /ws HTTP/1.1" 101');
    expect(log).not.toContain(token);
    expect(log).not.toContain("token=");
  });
});

describe("a node behind the generated wss config", () => {
  let p: Proxy;
  let cert: string;
  const lax = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  beforeAll(async () => {
    const dir = await scratchDir();
    const files = await selfSigned(dir, DOMAIN);
    cert = files.cert;
    p = await proxied({ tls: true, cert: files.cert, key: files.key });
    // The harness's WebSocket takes no CA; the certificate itself is checked with openssl below.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  }, 60_000);
  afterAll(async () => {
    if (lax === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = lax;
    await p?.stop();
  }, 20_000);

  const handshake = (port: number, ...flags: string[]) =>
    run("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", DOMAIN, "-CAfile", cert, "-verify_return_error", "-brief", ...flags], { timeoutMs: 10_000 });

  test("upgrades, acks a send and delivers it to the user's other device over TLS", async () => {
    await sendAndDeliver(`https://127.0.0.1:${p.httpsPort}`, `wss://127.0.0.1:${p.httpsPort}/ws`, p.node.secret);
  });

  test("accepts TLS 1.2 and TLS 1.3 with the configured certificate", async () => {
    for (const [flag, name] of [["-tls1_2", "TLSv1.2"], ["-tls1_3", "TLSv1.3"]]) {
      const r = await handshake(p.httpsPort, flag);
      expect(r.stderr).toContain(`Protocol version: ${name}`);
      expect(r.stderr).toContain("Verification: OK");
      expect(r.code).toBe(0);
    }
  });

  test("refuses TLS 1.1, which this openssl client can speak", async () => {
    // Lowered to security level 0, the client offers TLS 1.1; a server allowing it proves so.
    const legacy = ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"];
    const port = await freePort();
    const files = { cert, key: cert.replace("cert.pem", "key.pem") };
    const control = startProcess("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", files.cert, "-key", files.key, ...legacy.slice(1), "-www"]);
    try {
      await waitForPort(port);
      const allowed = await handshake(port, ...legacy);
      expect(allowed.stderr).toContain("Protocol version: TLSv1.1");
    } finally {
      await control.stop();
    }
    const refused = await handshake(p.httpsPort, ...legacy);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).not.toContain("Protocol version: TLSv1.1");
  });

  test("sends HSTS on https answers", async () => {
    const res = await fetch(`https://127.0.0.1:${p.httpsPort}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("strict-transport-security")).toBe("max-age=63072000");
  });

  test("redirects http to https with 308, keeping path and query", async () => {
    const res = await fetch(`http://127.0.0.1:${p.httpPort}/api/conversations?after=3`, { method: "POST", redirect: "manual" });
    expect(res.status).toBe(308);
    expect(res.headers.get("location")).toBe(`https://${DOMAIN}:${p.httpsPort}/api/conversations?after=3`);
  });

  test("tells the node the client's address and logs no token", async () => {
    const user = uid("frank");
    const token = await mintToken(user, p.node.secret);
    const client = await connect({ wsUrl: `wss://127.0.0.1:${p.httpsPort}/ws`, secret: p.node.secret }, { user, token });
    expect(await loggedIp(p.node, user)).toBe("127.0.0.1");
    client.close();
    await client.closed;
    const log = await accessLog(p.dir, 3);
    expect(log).not.toContain(token);
    expect(log).not.toContain("token=");
  });
});

/** A GET sent from a chosen loopback address; resolves with the status code. */
function getFrom(localAddress: string, port: number, path: string): Promise<number> {
  return new Promise((ok, fail) => {
    const sock = tcp({ host: "127.0.0.1", port, localAddress });
    sock.on("connect", () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${DOMAIN}\r\nConnection: close\r\n\r\n`));
    sock.on("data", (d) => { sock.destroy(); ok(Number(d.toString().match(/^HTTP\/1\.1 (\d{3})/)?.[1])); });
    sock.on("error", fail);
    setTimeout(() => { sock.destroy(); fail(new Error(`no answer to GET ${path}`)); }, 10_000);
  });
}

describe("/metrics behind the generated config", () => {
  test("by default only loopback reads it through nginx; the node's own port still serves the scraper", async () => {
    const p = await proxied({});
    try {
      expect(await getFrom("127.0.0.1", p.httpPort, "/metrics")).toBe(200);
      expect(await getFrom("127.0.0.2", p.httpPort, "/metrics")).toBe(403);
      expect(await getFrom("127.0.0.2", p.httpPort, "/healthz")).toBe(200);
      const own = await fetch(`${p.node.url}/metrics`);
      expect(own.status).toBe(200);
      expect(await own.text()).toContain("duplex_");
    } finally {
      await p.stop();
    }
  }, 60_000);

  test("--metrics-allow admits the listed network and no other address", async () => {
    const p = await proxied({ "metrics-allow": ["127.0.0.3/32", "10.0.0.0/8"] });
    try {
      expect(await getFrom("127.0.0.3", p.httpPort, "/metrics")).toBe(200);
      expect(await getFrom("127.0.0.2", p.httpPort, "/metrics")).toBe(403);
      expect(await getFrom("127.0.0.1", p.httpPort, "/metrics")).toBe(403);
    } finally {
      await p.stop();
    }
  }, 60_000);
});
