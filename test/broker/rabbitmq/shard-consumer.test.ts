/**
 * The shard consumer's pipeline, against a channel that records what it is told: the next
 * batch is sequenced while the previous one's fanout confirm is in flight, acks stay
 * cumulative and in order, and every failure hands the whole shard back unacked.
 */
import { expect, test } from "bun:test";
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import type { AmqpLink } from "../../../src/broker/rabbitmq/connection.ts";
import { ShardConsumer, type ShardWork } from "../../../src/broker/rabbitmq/shard-consumer.ts";
import { duplexError } from "../../../src/core/errors.ts";
import { createLogger } from "../../../src/core/log.ts";
import { waitFor } from "./fixture.ts";

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(err: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((ok, fail) => ((resolve = ok), (reject = fail)));
  return { promise, resolve, reject };
}

/** A channel that records acks and nacks by delivery tag; closing it requeues what it holds. */
class FakeChannel {
  events: string[] = [];
  closed = false;
  deliver: (msg: ConsumeMessage | null) => void = () => {};
  #tag = 0;
  async prefetch() {}
  async consume(_queue: string, cb: (msg: ConsumeMessage | null) => void) {
    this.deliver = cb;
  }
  ack(msg: ConsumeMessage, all: boolean) {
    this.#check();
    this.events.push(`ack ${msg.fields.deliveryTag}${all ? "+" : ""}`);
  }
  nack(msg: ConsumeMessage) {
    this.#check();
    this.events.push(`nack ${msg.fields.deliveryTag}`);
  }
  send(body: string) {
    this.deliver({ content: Buffer.from(body), fields: { deliveryTag: ++this.#tag, redelivered: false } } as unknown as ConsumeMessage);
  }
  #check() {
    if (this.closed) throw new Error("channel closed");
  }
}

/** One batch handed to `work`, and the two steps the test settles by hand. */
interface Batch {
  bodies: string[];
  current: () => boolean;
  sequenced: Deferred<void>;
  confirmed: Deferred<ConsumeMessage[]>;
}

function setup(settleMs = 60_000) {
  const channels: FakeChannel[] = [];
  const batches: Batch[] = [];
  const link = {
    channel: async () => {
      const ch = new FakeChannel();
      channels.push(ch);
      return ch as unknown as Channel;
    },
    release: async (ch: Channel) => {
      (ch as unknown as FakeChannel).closed = true;
    },
    rebuild: () => {},
  } as unknown as AmqpLink;
  const work: ShardWork = async (batch, current) => {
    const b: Batch = { bodies: batch.map((m) => m.content.toString()), current, sequenced: deferred(), confirmed: deferred() };
    batches.push(b);
    await b.sequenced.promise;
    return { confirmed: b.confirmed.promise };
  };
  const consumer = new ShardConsumer(0, { queue: "q", link, work, settleMs, log: createLogger("error") });
  const tick = () => new Promise((r) => setTimeout(r, 5));
  /** Sends each message on the newest channel and lets its batch be sequenced: its confirm stays outstanding. */
  const sequenced = async (...bodies: string[]) => {
    for (const body of bodies) {
      channels.at(-1)!.send(body);
      await waitFor(`the batch of ${body}`, () => batches.at(-1)?.bodies.includes(body) === true);
      batches.at(-1)!.sequenced.resolve();
      await tick();
    }
  };
  return { consumer, channels, batches, tick, sequenced, subscribe: () => consumer.subscribe({} as ChannelModel) };
}

test("sequences the next batch while the previous batch's fanout confirm is in flight, and acks them in order", async () => {
  const { channels, batches, tick, sequenced, subscribe } = setup();
  await subscribe();
  const ch = channels[0];
  // Batch 1's confirm is still outstanding, yet batch 2 is already being sequenced.
  await sequenced("m1", "m2");
  expect(batches.map((b) => b.bodies)).toEqual([["m1"], ["m2"]]);
  batches[1].confirmed.resolve([]);
  await tick();
  expect(ch.events).toEqual([]); // acking 2 would ack 1 too, and 1 is not confirmed
  batches[0].confirmed.resolve([]);
  await waitFor("both acks", () => ch.events.length === 2);
  expect(ch.events).toEqual(["ack 1+", "ack 2+"]);
});

test("a batch that fails while the next one is in flight: neither is acked, and the shard is handed back to be redone from the first", async () => {
  const { channels, batches, sequenced, subscribe } = setup();
  await subscribe();
  const first = channels[0];
  await sequenced("m1", "m2");
  batches[1].confirmed.resolve([]);
  batches[0].confirmed.reject(duplexError("unprocessable", "the fanout publish failed for good"));
  await waitFor("the shard to be handed back and taken up again", () => channels.length === 2);
  expect(first.closed).toBe(true); // closing requeues m1 and m2, in order
  expect(first.events).toEqual([]);
  expect(batches[1].current()).toBe(false); // a retry loop still running for batch 2 gives up
  // The new channel starts afresh.
  channels[1].send("m1");
  await waitFor("batch 1 again", () => batches.length === 3);
  batches[2].sequenced.resolve();
  batches[2].confirmed.resolve([]);
  await waitFor("the ack on the new channel", () => channels[1].events.length === 1);
  expect(channels[1].events).toEqual(["ack 1+"]);
});

test("a sequencing failure takes no further batch and acks none behind it; the batch ahead still settles first", async () => {
  const { channels, batches, tick, sequenced, subscribe } = setup();
  await subscribe();
  const first = channels[0];
  await sequenced("m1");
  first.send("m2");
  await waitFor("batch 2", () => batches.length === 2);
  first.send("m3"); // waits in the buffer behind batch 2
  batches[1].sequenced.reject(duplexError("unavailable", "Redis went away"));
  await tick();
  expect(channels.length).toBe(1); // the hand-off waits for batch 1, in flight ahead of the failure
  batches[0].confirmed.resolve([]);
  await waitFor("the shard to be handed back", () => channels.length === 2);
  expect(first.events).toEqual(["ack 1+"]); // batch 1 only: never m2, nor m3 behind it
  expect(batches.length).toBe(2); // m3 was never taken from the failed channel
});

test("a confirm that never comes holds back every later ack, and letting go requeues them all within settleMs", async () => {
  const { consumer, channels, batches, tick, sequenced, subscribe } = setup(300);
  await subscribe();
  const ch = channels[0];
  await sequenced("m1", "m2", "m3");
  batches[1].confirmed.resolve([]);
  batches[2].confirmed.resolve([]);
  await tick();
  expect(ch.events).toEqual([]);
  const t0 = performance.now();
  await consumer.release();
  expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  expect(ch.closed).toBe(true);
  expect(ch.events).toEqual([]);
});

test("a lost connection with several batches outstanding acks nothing on the dead channel", async () => {
  const { consumer, channels, batches, tick, sequenced, subscribe } = setup();
  await subscribe();
  const ch = channels[0];
  await sequenced("m1", "m2", "m3");
  consumer.drop(); // the connection died: RabbitMQ requeues all three for the next owner
  for (const b of batches) b.confirmed.resolve([]);
  await tick();
  expect(ch.events).toEqual([]);
  expect(batches.every((b) => !b.current())).toBe(true);
});

test("poison messages are dead-lettered before the cumulative ack that would take them too", async () => {
  const { channels, batches, subscribe } = setup();
  await subscribe();
  const ch = channels[0];
  const poison: ConsumeMessage[] = [];
  const deliver = ch.deliver;
  ch.deliver = (msg) => {
    if (msg?.content.toString() === "bad") poison.push(msg);
    deliver(msg);
  };
  ch.send("m1");
  await waitFor("batch 1", () => batches.length === 1);
  ch.send("bad"); // both wait behind batch 1's sequencing: one batch
  ch.send("m3");
  batches[0].sequenced.resolve();
  batches[0].confirmed.resolve([]);
  await waitFor("batch 2", () => batches.length === 2);
  expect(batches[1].bodies).toEqual(["bad", "m3"]);
  batches[1].sequenced.resolve();
  batches[1].confirmed.resolve(poison);
  await waitFor("the settlement", () => ch.events.length === 3);
  expect(ch.events).toEqual(["ack 1+", "nack 2", "ack 3+"]);
});
