import { expect, test } from "bun:test";
import { DuplexError } from "../../../src/core/errors.ts";
import { JOINED_BYTES, TurnBatcher } from "../../../src/broker/rabbitmq/turn-batch.ts";

/** A publish that records each message and settles it when told. */
function channel() {
  const sent: { json: string; resolve(): void; reject(err: unknown): void }[] = [];
  const publish = (json: string) => new Promise<void>((resolve, reject) => sent.push({ json, resolve, reject }));
  return { sent, publish };
}

const turn = () => new Promise((r) => setImmediate(r));

test("the batches of one turn leave as one message, in the order they were added, and each resolves on its confirm", async () => {
  const { sent, publish } = channel();
  const batcher = new TurnBatcher(publish, "a sequenced message");
  const settled: string[] = [];
  const a = batcher.add([{ seq: 1 }, { seq: 2 }]).then(() => settled.push("a"));
  const b = batcher.add([{ seq: 7 }]).then(() => settled.push("b"));
  expect(sent).toEqual([]);
  await turn();
  expect(sent.map((s) => JSON.parse(s.json))).toEqual([[{ seq: 1 }, { seq: 2 }, { seq: 7 }]]);
  expect(settled).toEqual([]);
  sent[0].resolve();
  await Promise.all([a, b]);
  expect(settled).toEqual(["a", "b"]);
});

test("batches of later turns go out in later messages, in turn order", async () => {
  const { sent, publish } = channel();
  const batcher = new TurnBatcher(publish, "a sequenced message");
  void batcher.add([1]);
  await turn();
  void batcher.add([2]);
  void batcher.add([3]);
  await turn();
  expect(sent.map((s) => s.json)).toEqual(["[1]", "[2,3]"]);
});

test("a publish that fails rejects every batch it carried with its error, and the next turn publishes afresh", async () => {
  const { sent, publish } = channel();
  const batcher = new TurnBatcher(publish, "a sequenced message");
  const a = batcher.add([1]);
  const b = batcher.add([2]);
  await turn();
  const lost = new Error("channel closed");
  sent[0].reject(lost);
  expect(await a.catch((e) => e)).toBe(lost);
  expect(await b.catch((e) => e)).toBe(lost);
  const c = batcher.add([3]);
  await turn();
  expect(sent[1].json).toBe("[3]");
  sent[1].resolve();
  await c;
});

test("a publish that throws instead of rejecting fails its batches the same way", async () => {
  const batcher = new TurnBatcher(() => { throw new Error("no channel"); }, "a sequenced message");
  const a = batcher.add([1]).catch((e: Error) => e);
  await turn();
  expect(((await a) as Error).message).toBe("no channel");
});

test("a batch that cannot be serialised is refused alone, at once, and does not spoil the others of its turn", async () => {
  const { sent, publish } = channel();
  const batcher = new TurnBatcher(publish, "a sequenced message");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const good = batcher.add([1]);
  const bad = batcher.add([cyclic]);
  const err = await bad.catch((e) => e);
  expect(err).toBeInstanceOf(DuplexError);
  expect((err as DuplexError).code).toBe("unprocessable");
  expect((err as DuplexError).message).toContain("a sequenced message cannot be serialised");
  await turn();
  expect(sent.map((s) => s.json)).toEqual(["[1]"]);
  sent[0].resolve();
  await good;
});

test("an empty batch resolves without a message", async () => {
  const { sent, publish } = channel();
  await new TurnBatcher(publish, "a sequenced message").add([]);
  await turn();
  expect(sent).toEqual([]);
});

test("a turn's batches past JOINED_BYTES start another message, and the order holds across the two", async () => {
  const { sent, publish } = channel();
  const batcher = new TurnBatcher(publish, "a sequenced message");
  const big = "x".repeat(JOINED_BYTES / 2);
  void batcher.add([{ n: 1, big }]);
  void batcher.add([{ n: 2, big }]);
  void batcher.add([{ n: 3 }]);
  await turn();
  expect(sent.map((s) => (JSON.parse(s.json) as { n: number }[]).map((i) => i.n))).toEqual([[1], [2, 3]]);
});
