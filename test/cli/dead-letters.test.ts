/**
 * `duplex dead-letters` against the machine's RabbitMQ: messages dead-lettered the way a
 * shard owner does it (rejected without requeue), listed without their bodies, replayed
 * onto the shard they died on; bad input refused in one line.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type ChannelModel, connect } from "amqplib";
import { join } from "node:path";
import { names, topology } from "../../src/broker/rabbitmq/topology.ts";
import { deleteNamespace } from "../broker/rabbitmq/fixture.ts";
import { run } from "./deploy/support.ts";
import { testNamespace } from "../harness.ts";
import { amqpUrl } from "../services.ts";

setDefaultTimeout(60_000);

const AMQP_URL = await amqpUrl();
const BIN = join(import.meta.dir, "../../node_modules/.bin");
const namespace = testNamespace();
const n = names(namespace);
const request = { origin: "n1", ref: "r1", message: { conv: "c1", id: "m1", from: { user: "ann", device: "phone" }, body: "a private body" } };
let conn: ChannelModel;

/** The CLI on Bun or Node, with nothing from the machine's environment but what is given. */
const cli = (args: string[], env: Record<string, string> = { AMQP_URL }, runtime: "bun" | "node" = "bun") =>
  run(runtime === "bun" ? `${BIN}/bun` : `${BIN}/tsx`, [...(runtime === "bun" ? ["run"] : []), "src/cli.ts", "dead-letters", ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });

async function count(queue: string): Promise<number> {
  const ch = await conn.createChannel();
  try {
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await ch.close();
  }
}

beforeAll(async () => {
  conn = await connect(AMQP_URL);
  const ch = await conn.createConfirmChannel();
  const t = topology({ namespace, shards: 2, queueType: "quorum" });
  for (const e of t.exchanges) await ch.assertExchange(e.name, e.type, { durable: e.durable });
  for (const q of t.queues) await ch.assertQueue(q.name, { durable: q.durable, arguments: q.arguments });
  for (const b of t.bindings) await ch.bindQueue(b.destination, b.source, b.routingKey);
  ch.publish(n.ingress, "1", Buffer.from(JSON.stringify(request)), { persistent: true, type: "send" });
  ch.publish(n.ingress, "0", Buffer.from("not a send"), { persistent: true, type: "send" });
  await ch.waitForConfirms();
  // As a shard owner sets a poison message aside (shard queues take consumers, not basic.get).
  for (const shard of [0, 1]) await ch.consume(n.shard(shard), (m) => m && ch.nack(m, false, false));
  for (let i = 0; (await count(n.deadLetter)) < 2; i++) {
    if (i > 100) throw new Error("the rejected messages never reached the dead-letter queue");
    await new Promise((r) => setTimeout(r, 50));
  }
  await ch.close();
});

afterAll(async () => {
  await conn?.close();
  await deleteNamespace(AMQP_URL, namespace, 2);
});

const lines = (stdout: string) => stdout.trimEnd().split("\n").map((l) => JSON.parse(l));

describe("duplex dead-letters", () => {
  test("lists each dead-lettered message with its shard, reason and sender but never its body, and leaves them in place", async () => {
    const r = await cli(["--namespace", namespace]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("a private body");
    const out = lines(r.stdout);
    expect(out).toContainEqual({ shard: 1, reason: "rejected", deaths: 1, bytes: JSON.stringify(request).length, request: true, conv: "c1", id: "m1", user: "ann" });
    expect(out).toContainEqual({ shard: 0, reason: "rejected", deaths: 1, bytes: 10, request: false });
    expect(out[out.length - 1]).toEqual({ listed: 2, replayed: 0, kept: 2 });
    expect(await count(n.deadLetter)).toBe(2);
  });

  test("--replay (here on Node) puts each send request back on its shard and keeps what is no request", async () => {
    const r = await cli(["--namespace", namespace, "--replay"], { AMQP_URL }, "node");
    expect(r.stderr).toBe("");
    expect(lines(r.stdout).pop()).toEqual({ listed: 2, replayed: 1, kept: 1 });
    expect(await count(n.deadLetter)).toBe(1);
    const ch = await conn.createChannel();
    const back = await new Promise<string>((ok) => void ch.consume(n.shard(1), (m) => m && ok(m.content.toString()), { noAck: true }));
    await ch.close();
    expect(JSON.parse(back)).toEqual(request);
    expect(await count(n.shard(0))).toBe(0);
  });

  test("refuses a missing AMQP_URL, a bad --limit and a namespace with no dead-letter queue, in one line each", async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [["--namespace", namespace], {}, "AMQP_URL is not set"],
      [["--namespace", namespace, "--limit", "0"], { AMQP_URL }, "--limit"],
      [["--namespace", testNamespace()], { AMQP_URL }, "no queue"],
    ];
    for (const [args, env, needle] of cases) {
      const r = await cli(args, env);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(needle);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    }
  });
});
