/**
 * The client against real nodes: the failures "no silent loss" has to survive, end to end.
 * Timings are printed; only contract bounds are asserted, with scheduling slack (the machine is shared).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Ack, StoredMessage } from "../../src/client/index.ts";
import { dropNamespace } from "../cleanup.ts";
import { cleanUpAfterAll, type Nginx, startNginx } from "../cli/deploy/support.ts";
import { api, type NodeProc, RUNTIMES, startNode, testNamespace } from "../harness.ts";
import { amqpUrl, redisUrl } from "../services.ts";
import { closeDevices, device, online } from "./live.ts";
import { type Proxy, startProxy } from "./proxy.ts";

afterAll(closeDevices);
cleanUpAfterAll();

const uid = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;
/** bun 1.4.5 ignores bunfig's [test] timeout, so the slow steps name theirs. */
const SLOW = 60_000;
const SHARDS = 4;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function conversation(node: Pick<NodeProc, "url" | "secret">, owner: string, ...others: string[]): Promise<string> {
  const res = await api(node, owner, "/api/conversations", { body: { members: others } });
  if (res.status !== 201) throw new Error(`creating a conversation answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** The ids of acked sends in the order the node sequenced them. */
const bySeq = (acks: Ack[]) => [...acks].sort((a, b) => a.seq - b.seq).map((a) => a.id);
const ids = (msgs: StoredMessage[]) => msgs.map((m) => m.id);

describe("against one embedded node, through a breakable network", () => {
  let node: NodeProc;
  let proxy: Proxy;
  beforeAll(async () => {
    node = await startNode({ env: { DUPLEX_RATE: "5000", DUPLEX_HEARTBEAT_MS: "1000" } });
    proxy = await startProxy(node.port);
  }, SLOW);
  afterAll(async () => {
    closeDevices();
    await proxy?.close();
    await node?.kill();
  }, SLOW);

  test("a connection lost between a send and its ack makes no duplicate: the resend gets the original ack", async () => {
    const [ann, bo] = [uid("ann"), uid("bo")];
    const conv = await conversation(node, ann, bo);
    const sender = await online(await device({ url: proxy.url, secret: node.secret }, ann, "phone"));
    const other = await online(await device(node, bo, "laptop"));

    proxy.holdDown();
    const acked = sender.client.send(conv, "once");
    await other.until("the message", () => other.msgs.length === 1);
    proxy.cut(); // the ack was on its way back
    const ack = await acked;
    expect(sender.states.some((s) => s.state === "reconnecting")).toBe(true);
    expect(ack).toEqual({ id: other.msgs[0].id, conv, seq: other.msgs[0].seq });

    await sender.client.send(conv, "after");
    await other.until("the next message", () => other.msgs.length === 2);
    expect(other.msgs.map((m) => m.body)).toEqual(["once", "after"]);
    const stored = await api(node, ann, `/api/conversations/${conv}/messages`);
    expect(stored.body.messages.map((m: StoredMessage) => m.body)).toEqual(["once", "after"]);
  }, SLOW);

  test("a device offline while 500 messages arrive reconnects and emits exactly those 500, in order", async () => {
    const [cy, dee] = [uid("cy"), uid("dee")];
    const conv = await conversation(node, cy, dee);
    const tablet = await online(await device({ url: proxy.url, secret: node.secret }, dee, "tablet"));
    const sender = await online(await device(node, cy, "desk"));
    await sender.client.send(conv, "before");
    await tablet.until("the first message", () => tablet.msgs.length === 1);

    proxy.offline();
    await tablet.until("the loss noticed", () => tablet.client.state === "reconnecting");
    const acks = await Promise.all(range(1, 500).map((i) => sender.client.send(conv, i)));
    const back = Date.now();
    proxy.online();
    await tablet.until("500 more messages", () => tablet.msgs.length >= 501, 40_000);
    console.log(`offline device caught up 500 messages ${Date.now() - back} ms after the network came back`);

    expect(tablet.msgs.slice(1).map((m) => m.seq)).toEqual(range(2, 501));
    expect(ids(tablet.msgs.slice(1))).toEqual(bySeq(acks));
    const last = await sender.client.send(conv, "last");
    await tablet.until("the message after", () => tablet.msgs.length >= 502);
    expect(tablet.msgs.length).toBe(502);
    expect(tablet.msgs[501].id).toBe(last.id);
    expect(tablet.errors).toEqual([]);
  }, SLOW);
});

describe("a node that stops answering", () => {
  const h = 1000;
  let node: NodeProc;
  beforeAll(async () => {
    node = await startNode({ env: { DUPLEX_HEARTBEAT_MS: String(h) } });
  }, SLOW);
  afterAll(async () => {
    closeDevices();
    if (node) {
      try {
        process.kill(node.pid, "SIGCONT");
      } catch { /* already gone */ }
      await node.kill();
    }
  }, SLOW);

  test("is detected by its silence and left within two heartbeats, and rejoined once it answers", async () => {
    const d = await online(await device(node, uid("eve"), "phone", { connectTimeoutMs: 2000 }));
    expect(d.client.welcome?.heartbeat).toBe(h);
    const stoppedAt = Date.now();
    process.kill(node.pid, "SIGSTOP");
    await d.until("the dead link noticed", () => d.client.state === "reconnecting", 15_000);
    const left = d.states.find((s) => s.state === "reconnecting")!;
    console.log(`a frozen node was left ${left.at - stoppedAt} ms after it froze (heartbeat ${h} ms): ${"reason" in left ? left.reason : ""}`);
    expect("reason" in left && left.reason).toContain("two heartbeats");
    // Its last frame came at or before the freeze; half an interval of slack for timers.
    expect(left.at - stoppedAt).toBeLessThanOrEqual(2 * h + h / 2);

    process.kill(node.pid, "SIGCONT");
    await d.until("open again", () => d.client.state === "open", 30_000);
  }, SLOW);
});

describe("on the cluster: Bun, Deno and Node nodes over Redis and RabbitMQ, behind nginx", () => {
  const namespace = testNamespace();
  const secret = `secret-${crypto.randomUUID()}`;
  const nodes: NodeProc[] = [];
  let lb: Nginx | undefined;
  beforeAll(async () => {
    const env = {
      REDIS_URL: await redisUrl(), AMQP_URL: await amqpUrl(), DUPLEX_NAMESPACE: namespace,
      DUPLEX_SHARDS: String(SHARDS), DUPLEX_JWT_SECRET: secret, DUPLEX_RATE: "5000",
    };
    for (const runtime of RUNTIMES) nodes.push(await startNode({ runtime, env }));
    // nginx from the generated config in front of the nodes, as the compose cluster runs it.
    lb = await startNginx({ domain: "localhost", upstream: nodes.map((n) => `127.0.0.1:${n.port}`) });
  }, 2 * SLOW);
  afterAll(async () => {
    closeDevices();
    await lb?.stop();
    await Promise.all(nodes.map((n) => n.kill()));
    await dropNamespace(namespace, SHARDS);
  }, SLOW);

  test("the sender's node killed mid-stream: the client fails over, every message acked once, seen once and in order elsewhere", async () => {
    const [fay, gus] = [uid("fay"), uid("gus")];
    const conv = await conversation(nodes[0], fay, gus);
    // The client takes one URL, so it reaches the cluster as a deployment does: through nginx.
    const sender = await online(await device({ url: `http://127.0.0.1:${lb!.httpPort}`, secret }, fay, "phone"));
    const victim = nodes.find((n) => n.nodeId === sender.client.welcome!.node)!;
    const survivors = nodes.filter((n) => n !== victim);
    const watchers = [await online(await device(survivors[0], gus, "laptop")), await online(await device(survivors[1], fay, "tablet"))];
    const acked: string[] = [];
    sender.client.on("ack", (a) => acked.push(a.id));

    const N = 300;
    const sends: Promise<Ack>[] = [];
    const sending = (async () => {
      for (let i = 1; i <= N; i++) {
        sends.push(sender.client.send(conv, i));
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await sender.until("100 acks", () => acked.length >= 100);
    console.log(`SIGKILL of the sender's ${victim.runtime} node with ${sends.length - acked.length} sends unanswered, ${sends.length} made`);
    await victim.kill();
    await sending;
    const all = await Promise.all(sends);
    expect(sender.states.some((s) => s.state === "reconnecting")).toBe(true);
    expect(survivors.map((n) => n.nodeId)).toContain(sender.client.welcome!.node);
    expect(new Set(all.map((x) => x.id)).size).toBe(N);
    expect(all.map((x) => x.seq).sort((x, y) => x - y)).toEqual(range(1, N));
    expect([...acked].sort()).toEqual(all.map((x) => x.id).sort());

    const end = await sender.client.send(conv, "end");
    for (const w of watchers) {
      await w.until("every message", () => w.msgs.some((m) => m.id === end.id), 30_000);
      expect(w.msgs.map((m) => m.seq)).toEqual(range(1, N + 1));
      expect(ids(w.msgs)).toEqual([...bySeq(all), end.id]);
    }
  }, SLOW);
});
