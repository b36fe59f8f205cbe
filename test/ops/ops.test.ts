import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, connect, mintToken, type NodeProc, rawUpgrade, startNode, testNamespace } from "../harness.ts";
import { redisUrl } from "../services.ts";
import { dropKeys } from "../store/redis/fixtures.ts";

/** Parses the Prometheus text format strictly enough to catch a malformed exposition. */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels = (m[2] ?? "").replace(/,?(node|runtime)="[^"]*"/g, "").replace(/^\{,?/, "{").replace(/\{\}$/, "");
    samples.set(m[1] + labels, Number(m[3]));
  }
  return samples;
}

describe("operations", () => {
  let node: NodeProc;
  beforeAll(async () => { node = await startNode({ env: { LOG_LEVEL: "debug", DUPLEX_RATE: "1000" } }); });
  afterAll(async () => { await node?.kill(); });

  const scrape = async () => parseProm(await (await fetch(`${node.url}/metrics`)).text());

  test("/metrics parses as Prometheus text and its counters follow a scripted session", async () => {
    const before = await scrape();
    const get = (m: Map<string, number>, k: string) => m.get(k) ?? 0;
    const conv = (await api(node, "ann", "/api/conversations", { body: { members: ["ben"] } })).body.id;
    const ann = await connect(node, { user: "ann", device: "a" });
    const ben = await connect(node, { user: "ben", device: "b" });
    ann.send({ type: "send", id: "1", conv, body: "x" });
    await ann.next("ack");
    await ben.next("msg");
    ann.send({ type: "nonsense" });
    await ann.next("error");
    expect((await api(node, null, "/api/conversations", { body: { members: ["ben"] } })).status).toBe(401);
    const during = await scrape();
    expect(get(during, "duplex_connections") - get(before, "duplex_connections")).toBe(2);
    expect(get(during, "duplex_connects_total") - get(before, "duplex_connects_total")).toBe(2);
    expect(get(during, 'duplex_frames_in_total{type="send"}') - get(before, 'duplex_frames_in_total{type="send"}')).toBe(1);
    expect(get(during, 'duplex_frames_out_total{type="msg"}') - get(before, 'duplex_frames_out_total{type="msg"}')).toBe(1);
    expect(get(during, 'duplex_frames_out_total{type="ack"}') - get(before, 'duplex_frames_out_total{type="ack"}')).toBe(1);
    expect(get(during, 'duplex_errors_total{code="bad_request"}') - get(before, 'duplex_errors_total{code="bad_request"}')).toBe(1);
    expect(get(during, 'duplex_errors_total{code="unauthorized"}') - get(before, 'duplex_errors_total{code="unauthorized"}')).toBe(1);
    expect(get(during, "duplex_messages_sequenced_total") - get(before, "duplex_messages_sequenced_total")).toBe(1);
    expect(get(during, "duplex_ack_latency_seconds_count") - get(before, "duplex_ack_latency_seconds_count")).toBe(1);
    expect(get(during, "duplex_delivery_latency_seconds_count") - get(before, "duplex_delivery_latency_seconds_count")).toBe(1);
    expect(get(during, "duplex_shards_owned")).toBe(16);
    expect(get(during, "duplex_broker_up")).toBe(1);
    ann.close();
    await ann.closed;
    // The client closed normally; runtimes report that as 1000, or 1005 when no code was read.
    const disconnects = (m: Map<string, number>) => get(m, 'duplex_disconnects_total{code="1005"}') + get(m, 'duplex_disconnects_total{code="1000"}');
    const deadline = Date.now() + 5000;
    let after = await scrape();
    while (disconnects(after) - disconnects(during) < 1 && Date.now() < deadline) {
      await Bun.sleep(50);
      after = await scrape();
    }
    expect(disconnects(after) - disconnects(during)).toBe(1);
    expect(get(after, "duplex_connections")).toBe(get(during, "duplex_connections") - 1);
    ben.close();
  });

  test("logs are JSON lines with level and node, and never hold a token or a message body", async () => {
    const conv = (await api(node, "cat", "/api/conversations", { body: { members: ["dan"] } })).body.id;
    const cat = await connect(node, { user: "cat", device: "c" });
    cat.send({ type: "send", id: "secret-1", conv, body: "BODY-must-not-be-logged" });
    await cat.next("ack");
    cat.send({ type: "send", id: "secret-2", conv: "missing", body: "BODY-must-not-be-logged" });
    await cat.next("error");
    cat.close();
    await cat.closed;
    const lines = node.output().split("\n").filter((l) => l.startsWith("{"));
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) {
      const entry = JSON.parse(line);
      expect(["debug", "info", "warn", "error"]).toContain(entry.level);
      expect(entry.node).toBe(node.nodeId);
      expect(line).not.toContain("BODY-must-not-be-logged");
      expect(line).not.toContain("eyJ");
    }
  });

  test("/livez is 200 while the process serves; /readyz and /healthz say ready", async () => {
    expect((await fetch(`${node.url}/livez`)).status).toBe(200);
    for (const path of ["/readyz", "/healthz"]) {
      const res = await fetch(node.url + path);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, ready: true, store: true, draining: false });
    }
  });
});

describe("drain", () => {
  test("SIGTERM under load refuses new upgrades, closes every socket with 1001 within the window, exits 0, loses no acked message", async () => {
    const windowMs = 1500;
    const namespace = testNamespace();
    const env = { REDIS_URL: await redisUrl(), DUPLEX_NAMESPACE: namespace, DUPLEX_RATE: "1000" };
    const node = await startNode({ env: { ...env, DUPLEX_DRAIN_MS: String(windowMs) } });
    const conv = (await api(node, "u0", "/api/conversations", { body: { members: Array.from({ length: 20 }, (_, i) => `u${i}`) } })).body.id;
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(node, { user: `u${i}`, device: "d" })));
    const closedAt: number[] = [];
    const codes = Promise.all(clients.map((c) => c.closed.then((e) => { closedAt.push(Date.now()); return e.code; })));
    let n = 0;
    const load = setInterval(() => { for (const c of clients) if (c.ws.readyState === 1) c.send({ type: "send", id: `m${n++}`, conv, body: n }); }, 10);
    await Bun.sleep(200);
    const start = Date.now();
    const exited = node.stop("SIGTERM");
    await Bun.sleep(100);
    expect((await fetch(`${node.url}/readyz`)).status).toBe(503);
    const late = await rawUpgrade(node.port, `/ws?token=${await mintToken("late", node.secret)}`);
    expect(late.status).toBe(503);
    expect(JSON.parse(late.body).error.code).toBe("unavailable");
    expect(await codes).toEqual(clients.map(() => 1001));
    clearInterval(load);
    expect(await exited).toBe(0);
    const spread = Math.max(...closedAt) - Math.min(...closedAt);
    console.log(`drain: 20 sockets closed over ${spread} ms (window ${windowMs} ms), exit after ${Date.now() - start} ms`);
    // Spread over the window rather than all at once: the last close comes well after the first.
    expect(spread).toBeGreaterThan(windowMs / 4);
    expect(Math.max(...closedAt) - start).toBeLessThan(windowMs + 2000);
    // Every ack promised storage: a node started after this one finds each acked message.
    const acked = clients.flatMap((c) => c.frames.flatMap((f) => (f.type === "ack" ? [f.id] : [])));
    expect(acked.length).toBeGreaterThan(20);
    const after = await startNode({ env });
    try {
      const stored = new Set<string>();
      for (let after_ = 0; ;) {
        const page = (await api(after, "u0", `/api/conversations/${conv}/messages?after=${after_}&limit=1000`)).body.messages as { id: string; seq: number }[];
        for (const m of page) stored.add(m.id);
        if (page.length < 1000) break;
        after_ = page[page.length - 1].seq;
      }
      expect(acked.filter((id) => !stored.has(id))).toEqual([]);
      console.log(`drain: ${acked.length} acked messages, all in history after the node exited`);
    } finally {
      await after.kill();
      await dropKeys(`${namespace}:*`);
    }
  });
});
