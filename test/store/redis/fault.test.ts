/**
 * Redis dies mid-traffic and comes back, under the stores and under a whole node. Each
 * test runs a redis-server of its own (own port, own directory; the machine's shared
 * Redis is never touched) with the append-only file fsynced on every write (`appendfsync
 * always`): Redis then replies to a write only once it is on disk, so "acked means
 * stored" holds even across a SIGKILL. (With the generated config's `everysec`, a SIGKILL
 * may lose up to a second of acked writes; docs/07-sessions.md explains the choice.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as tcp, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NewMessage } from "../../../src/core/ports/store.ts";
import { redisStores } from "../../../src/store/redis/stores.ts";
import { api, connect, startNode } from "../../harness.ts";

/** Everything a test started, ended even when it fails. */
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function sparePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

/** A redis-server of the test's own that can be SIGKILLed and started again on its data. */
async function ownRedis() {
  const port = await sparePort();
  const dir = mkdtempSync(join(tmpdir(), "duplex-redis-fault-"));
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
      "--appendonly", "yes", "--appendfsync", "always", "--logfile", join(dir, "redis.log"),
    ], { stdio: "ignore" });
    await waitFor("redis-server to answer PING (its AOF loaded)", 20_000, () => ping(port));
  };
  const kill = () => new Promise<void>((r) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return r();
    child.once("exit", () => r());
    child.kill("SIGKILL");
  });
  cleanups.push(async () => { await kill(); rmSync(dir, { recursive: true, force: true }); });
  await start();
  return { url: `redis://127.0.0.1:${port}`, start, kill };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcp(port, "127.0.0.1", () => s.write("PING\r\n"));
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
    s.on("data", (d) => { s.destroy(); resolve(d.toString().startsWith("+PONG")); });
    s.on("error", () => resolve(false));
  });
}

async function waitFor(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

describe("redis stores when Redis is killed and restarted", () => {
  test("every append is acked or refused unavailable, ready() flips and recovers alone, every ack survives", async () => {
    const redis = await ownRedis();
    const s = await redisStores(redis.url, { namespace: "fault", historyLimit: 1_000_000, timeoutMs: 3000 });
    cleanups.push(() => s.close());
    const { id: conv } = await s.messages.createConversation(["alice"]);

    const acked = new Map<string, number>();
    const refused: NewMessage[] = [];
    const unexpected: unknown[] = [];
    let hung = 0;
    let running = true;
    let n = 0;
    const next = (): NewMessage => ({ conv, id: `m${++n}`, from: { user: "alice", device: "phone" }, body: { n } });
    /** One writer: appends batches of `size` until stopped; each call must settle within 10 s. */
    const writer = async (size: number) => {
      while (running) {
        const batch = Array.from({ length: size }, next);
        const outcome = await Promise.race([
          s.messages.append(batch).then((r) => r, (err) => err as Error),
          new Promise<"hung">((r) => setTimeout(() => r("hung"), 10_000)),
        ]);
        if (outcome === "hung") hung++;
        else if (Array.isArray(outcome)) for (const r of outcome) acked.set(r.message.id, r.message.seq);
        else if ((outcome as { code?: string }).code === "unavailable") refused.push(...batch);
        else unexpected.push(outcome);
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    const writers = [writer(1), writer(1), writer(1), writer(5)];

    await waitFor("traffic before the kill", 10_000, () => acked.size >= 100);
    const ackedBeforeKill = acked.size;
    await redis.kill();
    const noticedMs = await waitFor("ready() to turn false", 5_000, () => !s.ready());
    await waitFor("appends refused while Redis is down", 5_000, () => refused.length >= 20);
    const refusedWhileDown = refused.length;

    await redis.start();
    const recoveredMs = await waitFor("ready() to turn true again", 20_000, () => s.ready());
    const ackedAtRecovery = acked.size;
    await waitFor("traffic after the restart", 10_000, () => acked.size >= ackedAtRecovery + 100);
    running = false;
    await Promise.all(writers);

    console.log(
      `acked ${acked.size} (${ackedBeforeKill} before the kill), refused ${refused.length} (${refusedWhileDown} while down); ` +
        `not ready ${noticedMs} ms after the kill, ready ${recoveredMs} ms after the restart answered PING`,
    );
    expect(unexpected).toEqual([]);
    expect(hung).toBe(0);

    const history = await s.messages.range(conv, 0, 1_000_000);
    const stored = new Map(history.map((m) => [m.id, m.seq]));
    for (const [id, seq] of acked) expect(stored.get(id)).toBe(seq);
    expect(history.map((m) => m.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));

    // What was refused may or may not have been stored (in flight at the kill): resending settles it.
    const resent = await s.messages.append(refused);
    const after = await s.messages.range(conv, 0, 1_000_000);
    expect(new Set(after.map((m) => m.id)).size).toBe(after.length);
    for (const r of resent) expect(after[r.message.seq - 1].id).toBe(r.message.id);
    console.log(`resent ${refused.length} refused: ${resent.filter((r) => r.duplicate).length} had been stored before`);
  }, 60_000);
});

describe("a node when its Redis is killed and restarted", () => {
  test("every send is answered ack or unavailable, /healthz follows Redis, every acked message is in history", async () => {
    const redis = await ownRedis();
    const node = await startNode({ env: { REDIS_URL: redis.url, DUPLEX_NAMESPACE: "fault", DUPLEX_HEARTBEAT_MS: "1000" } });
    cleanups.push(() => node.kill());
    const { body: conv } = await api(node, "alice", "/api/conversations", { body: { members: ["bob"] } });
    const phone = await connect(node, { user: "alice", device: "phone" });
    cleanups.push(() => phone.close());
    const healthy = async () => (await fetch(`${node.url}/healthz`)).status === 200;
    const answers = () => {
      const byId = new Map<string, string>();
      for (const f of phone.frames) {
        if (f.type === "ack") byId.set(f.id, `seq ${f.seq}`);
        else if (f.type === "error" && f.id) byId.set(f.id, f.code);
      }
      return byId;
    };
    const count = (what: (answer: string) => boolean) => [...answers().values()].filter(what).length;

    let sent = 0;
    const pump = setInterval(() => phone.send({ type: "send", id: `m${++sent}`, conv: conv.id, body: sent }), 15);
    cleanups.push(() => clearInterval(pump));
    await waitFor("acks before the kill", 10_000, () => count((x) => x.startsWith("seq")) >= 30);
    await redis.kill();
    const notReadyMs = await waitFor("/healthz to answer 503", 10_000, async () => !(await healthy()));
    await waitFor("sends refused while Redis is down", 10_000, () => count((x) => x === "unavailable") >= 10);
    await redis.start();
    const readyMs = await waitFor("/healthz to answer 200 again", 20_000, healthy);
    const acksAtRecovery = count((x) => x.startsWith("seq"));
    await waitFor("acks after the restart", 10_000, () => count((x) => x.startsWith("seq")) >= acksAtRecovery + 30);
    clearInterval(pump);
    await waitFor("an answer to every send", 15_000, () => answers().size === sent);

    const final = answers();
    const acked = [...final].filter(([, a]) => a.startsWith("seq"));
    console.log(
      `node: ${sent} sends, ${acked.length} acked, ${count((x) => x === "unavailable")} unavailable; ` +
        `/healthz 503 ${notReadyMs} ms after the kill, 200 ${readyMs} ms after the restart answered PING`,
    );
    expect([...final.values()].filter((a) => !a.startsWith("seq") && a !== "unavailable")).toEqual([]);
    const { body } = await api(node, "alice", `/api/conversations/${conv.id}/messages?after=0&limit=1000`);
    const stored = new Map((body.messages as { id: string; seq: number }[]).map((m) => [m.id, `seq ${m.seq}`]));
    for (const [id, answer] of acked) expect(stored.get(id)).toBe(answer);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(Number(metrics.match(/^duplex_store_reconnects_total\{[^}]*\} (\d+)$/m)?.[1])).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

describe("what a client is told while Redis is away", () => {
  test("unavailable answers name no host, port or URL of Redis; the node's log names them for the operator", async () => {
    const redis = await ownRedis();
    const { port } = new URL(redis.url);
    const node = await startNode({ env: { REDIS_URL: redis.url, DUPLEX_NAMESPACE: "fault-words", DUPLEX_HEARTBEAT_MS: "1000" } });
    cleanups.push(() => node.kill());
    const { body: conv } = await api(node, "alice", "/api/conversations", { body: { members: ["bob"] } });
    const phone = await connect(node, { user: "alice", device: "phone" });
    cleanups.push(() => phone.close());
    await waitFor("the phone's session in the store", 10_000, async () => (await api(node, "alice", "/api/presence?users=alice")).body.users.alice.online);
    await redis.kill();
    await waitFor("/healthz to answer 503", 10_000, async () => (await fetch(`${node.url}/healthz`)).status === 503);

    const said: string[] = [];
    phone.send({ type: "sync", id: "s1", conv: conv.id, after: 0 });
    phone.send({ type: "send", id: "m1", conv: conv.id, body: 1 });
    for (const id of ["s1", "m1"]) {
      const err = await phone.next("error", (f) => f.id === id);
      expect(err.code).toBe("unavailable");
      said.push(err.message);
    }
    for (const path of ["/api/conversations", `/api/conversations/${conv.id}/messages`, `/api/conversations/${crypto.randomUUID()}/messages`]) {
      const res = await api(node, "alice", path);
      expect({ path, status: res.status }).toEqual({ path, status: 503 });
      said.push(JSON.stringify(res.body));
    }
    for (const text of said) {
      expect(text).not.toContain(port);
      expect(text).not.toContain("127.0.0.1");
      expect(text).not.toContain("redis://");
    }
    await waitFor("a log line naming Redis's URL for the refusal", 5_000, () =>
      node.output().split("\n").some((l) => /"msg":"(frame|request) refused"/.test(l) && l.includes(`redis://127.0.0.1:${port}`)));
  }, 60_000);
});
