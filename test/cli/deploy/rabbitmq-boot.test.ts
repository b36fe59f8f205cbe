/**
 * A RabbitMQ node of the test's own, booted with the generated rabbitmq.conf: the shared
 * broker on 5672 is never restarted (see /work/shared/notes/second-rabbitmq-node.md).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { topology } from "../../../src/broker/rabbitmq/topology.ts";
import { rabbitmqConf, renderRabbitmq } from "../../../src/cli/deploy/rabbitmq.ts";
import { writeRendered } from "../../../src/cli/deploy/render.ts";
import { type OwnRabbit, startRabbit } from "../../broker/rabbitmq/own-rabbitmq.ts";
import { testNamespace } from "../../harness.ts";
import { cleanUpAfterAll, scratchDir } from "./support.ts";

cleanUpAfterAll();

const namespace = testNamespace();
const password = `pw-${crypto.randomUUID()}`;
const t = topology({ namespace, shards: 2, queueType: "quorum" });

describe("a fresh RabbitMQ booted with the generated rabbitmq.conf", () => {
  let broker: OwnRabbit;
  let url: string;

  beforeAll(async () => {
    // rabbitmq.conf loads definitions.json by its absolute path in this (world-readable) folder.
    const dir = await scratchDir();
    const rendered = renderRabbitmq(rabbitmqConf({ namespace, shards: "2", user: "duplex-node", out: dir }, { RABBITMQ_PASSWORD: password }));
    await writeRendered(dir, rendered);
    broker = await startRabbit(`duplexcfg-${namespace}@localhost`, rendered.files["rabbitmq.conf"], 55_000);
    url = broker.url("duplex-node", password);
  }, 90_000);
  afterAll(async () => {
    await broker?.stop();
  }, 45_000);

  test("has declared the namespace's queues, with topology()'s arguments, for the nodes' user", async () => {
    const conn = await amqp.connect(url);
    const ch = await conn.createChannel();
    for (const q of t.queues) expect((await ch.checkQueue(q.name)).queue).toBe(q.name);
    for (const e of t.exchanges) await ch.assertExchange(e.name, e.type, { durable: e.durable });
    for (const q of t.queues) await ch.assertQueue(q.name, { durable: q.durable, arguments: q.arguments });
    for (const b of t.bindings) await ch.bindQueue(b.destination, b.source, b.routingKey);
    await conn.close();
  });

  test("lets that user touch nothing outside the namespace", async () => {
    const conn = await amqp.connect(url);
    const ch = await conn.createChannel();
    ch.on("error", () => {});
    await expect(ch.assertQueue("someone-else.queue")).rejects.toThrow("ACCESS_REFUSED");
    await conn.close();
  });

  test("offers its heartbeat, so a client asking for more gets 5 s", async () => {
    const conn = await amqp.connect(`${url}?heartbeat=60`);
    expect((conn.connection as unknown as { heartbeat: number }).heartbeat).toBe(5);
    await conn.close();
  });

  test("runs with the generated consumer timeout", async () => {
    const r = await broker.ctl("eval", "application:get_env(rabbit, consumer_timeout).");
    expect(r.trim()).toBe("{ok,60000}");
  });
});
