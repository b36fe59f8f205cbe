/**
 * The stage metrics on the real pipeline (Redis + RabbitMQ): a node that owns every shard
 * observes each of a message's stages once, so /metrics counts every stage of every send.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { STAGES } from "../../../src/core/stages.ts";
import { dropNamespace } from "../../cleanup.ts";
import { api, connect, startNode } from "../../harness.ts";
import { redisUrl } from "../../services.ts";
import { AMQP_URL, testNamespace, waitFor } from "./fixture.ts";

setDefaultTimeout(90_000);

const REDIS_URL = await redisUrl();
const namespace = testNamespace();
afterAll(async () => {
  await dropNamespace(namespace, 1);
});

const stageCount = (text: string, stage: string) =>
  Number(text.match(new RegExp(`^duplex_pipeline_stage_seconds_count\\{[^}]*stage="${stage}"[^}]*\\} (\\d+)$`, "m"))?.[1] ?? 0);

test("a node over Redis and RabbitMQ times every stage of every send in duplex_pipeline_stage_seconds", async () => {
  const node = await startNode({ env: { AMQP_URL, REDIS_URL, DUPLEX_NAMESPACE: namespace, DUPLEX_SHARDS: "1" } });
  try {
    const [ann, ben] = [`ann-${namespace}`, `ben-${namespace}`];
    const conv = (await api(node, ann, "/api/conversations", { body: { members: [ben] } })).body.id as string;
    const sender = await connect(node, { user: ann, device: "phone" });
    for (let i = 1; i <= 5; i++) {
      sender.send({ type: "send", id: `m${i}`, conv, body: i });
      expect((await sender.next("ack", (f) => f.id === `m${i}`)).seq).toBe(i);
    }
    let text = "";
    // The ingress confirm may land after the ack: the node does not wait for it.
    await waitFor("every stage of five sends", () => STAGES.every((s) => stageCount(text, s) === 5), 20_000, () => {
      void fetch(`${node.url}/metrics`).then((r) => r.text()).then((t) => (text = t));
    });
    for (const s of STAGES) expect(stageCount(text, s)).toBe(5);
  } finally {
    await node.stop();
  }
});
