/**
 * A RabbitMQ node of the test's own, booted with the generated rabbitmq.conf: the shared
 * broker on 5672 is never restarted (see /work/shared/notes/second-rabbitmq-node.md).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import amqp from "amqplib";
import { appendFile, chown, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { topology } from "../../src/broker/topology.ts";
import { rabbitmqConf, renderRabbitmq } from "../../src/config/rabbitmq.ts";
import { testNamespace } from "../harness.ts";
import { writeRendered } from "../../src/config/render.ts";
import { cleanUpAfterAll, freePort, run, scratchDir, startProcess, waitForPort } from "./support.ts";

cleanUpAfterAll();

const namespace = testNamespace();
const password = `pw-${crypto.randomUUID()}`;
const t = topology({ namespace, shards: 2, queueType: "quorum" });

describe("a fresh RabbitMQ booted with the generated rabbitmq.conf", () => {
  let port: number;
  let nodeName: string;
  let broker: ReturnType<typeof startProcess>;
  let url: string;

  beforeAll(async () => {
    const dir = await scratchDir();
    await writeRendered(dir, renderRabbitmq(rabbitmqConf({ namespace, shards: "2", user: "duplex-node", out: dir }, { RABBITMQ_PASSWORD: password })));
    [port, nodeName] = [await freePort(), `duplexcfg-${namespace}@localhost`];
    const dist = await freePort();
    // What a test node needs beyond the generated file: its own listener.
    await appendFile(join(dir, "rabbitmq.conf"), `listeners.tcp.default = 127.0.0.1:${port}\n`);
    await writeFile(join(dir, "plugins"), "[].\n");
    await chownTree(dir);
    broker = startProcess("rabbitmq-server", [], {
      RABBITMQ_NODENAME: nodeName, RABBITMQ_NODE_PORT: String(port), RABBITMQ_DIST_PORT: String(dist),
      RABBITMQ_MNESIA_BASE: join(dir, "mnesia"), RABBITMQ_LOG_BASE: join(dir, "log"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "plugins"), RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq"),
      RABBITMQ_PID_FILE: join(dir, "pid"), RABBITMQ_FEATURE_FLAGS_FILE: join(dir, "ff"),
    });
    await waitForPort(port, "127.0.0.1", 55_000);
    url = `amqp://duplex-node:${password}@127.0.0.1:${port}`;
  }, 90_000);
  afterAll(async () => {
    await run("rabbitmqctl", ["-n", nodeName, "stop"], { timeoutMs: 30_000 });
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
    const r = await run("rabbitmqctl", ["-n", nodeName, "eval", "application:get_env(rabbit, consumer_timeout)."]);
    expect(r.stdout.trim()).toBe("{ok,60000}");
  });
});

async function chownTree(dir: string): Promise<void> {
  const uid = Number((await run("id", ["-u", "rabbitmq"])).stdout.trim());
  const gid = Number((await run("id", ["-g", "rabbitmq"])).stdout.trim());
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { recursive: true })) await chown(join(dir, entry), uid, gid);
}
