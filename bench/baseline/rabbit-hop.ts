/**
 * The pipeline's ceiling: one raw RabbitMQ hop with amqplib, built like a duplex shard —
 * a durable quorum queue with a single active consumer, persistent messages published
 * on a confirm channel, consumed on another connection with prefetch 256 and acked many
 * at a time. duplex's path has two such hops (ingress → shard queue, fanout → node
 * queue) plus the Redis append in between, so it cannot beat this.
 *
 * Two measurements: throughput with the publisher saturating (at most HOP_WINDOW
 * unconfirmed), and publish → consume latency at a fixed HOP_RATE (at saturation the
 * latency is only the length of the backlog).
 *
 *   bun run bench/baseline/rabbit-hop.ts   (AMQP_URL, HOP_QUEUE, HOP_WARM_MS, HOP_MS, HOP_WINDOW, HOP_RATE)
 * Prints one JSON line: { perSec, latency: {p50, p99, ...} (ms), rabbitmqCores } — the last
 * is the CPU RabbitMQ used while the paced messages ran (null when its process is not visible).
 */
import { type ConsumeMessage, connect } from "amqplib";
import { configuredUrl } from "../../test/services.ts";
import { type Histogram, newHistogram, percentiles, recordMs } from "../load/hist.ts";
import { cpuMeter } from "../systems/cpu.ts";

const env = process.env;
const url = configuredUrl("AMQP_URL");
const queue = env.HOP_QUEUE ?? `bench-hop-${crypto.randomUUID().slice(0, 8)}`;
const warmMs = Number(env.HOP_WARM_MS ?? 1000);
const runMs = Number(env.HOP_MS ?? 5000);
const window = Number(env.HOP_WINDOW ?? 1000);
const pacedRate = Number(env.HOP_RATE ?? 1000);
const ACK_EVERY = 64;
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pubConn = await connect(url);
const subConn = await connect(url);
const pub = await pubConn.createConfirmChannel();
await pub.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum", "x-single-active-consumer": true } });
const sub = await subConn.createChannel();
await sub.prefetch(256);

/** Where consumed messages are counted while a measurement runs. */
let current: { count: number; latency: Histogram } | null = null;
let unacked = 0;
let last: ConsumeMessage | null = null;
let flush: ReturnType<typeof setTimeout> | undefined;
const ackNow = () => {
  clearTimeout(flush);
  flush = undefined;
  if (last) sub.ack(last, true);
  last = null;
  unacked = 0;
};
await sub.consume(queue, (msg) => {
  if (!msg) return;
  if (current) {
    current.count++;
    recordMs(current.latency, wall() - Number(msg.content.toString()));
  }
  last = msg;
  if (++unacked >= ACK_EVERY) ackNow();
  else flush ??= setTimeout(ackNow, 5);
}, { noAck: false });

const publish = (done: () => void) => pub.publish("", queue, Buffer.from(String(wall())), { persistent: true }, done);

/** Publishes as fast as confirms allow, `window` at a time; resolves with consumed messages per second. */
async function saturate(): Promise<number> {
  let inFlight = 0;
  let stop = false;
  const pump = () => {
    while (!stop && inFlight < window) {
      inFlight++;
      publish(() => { inFlight--; pump(); });
    }
  };
  pump();
  await sleep(warmMs);
  const m = (current = { count: 0, latency: newHistogram() });
  const started = wall();
  await sleep(runMs);
  current = null;
  stop = true;
  return m.count / ((wall() - started) / 1000);
}

/** Publishes open-loop at `pacedRate` for `runMs`; resolves with the consume latency. */
async function paced(): Promise<Histogram> {
  const m = (current = { count: 0, latency: newHistogram() });
  const interval = 1000 / pacedRate;
  const start = wall();
  let i = 0;
  while (wall() - start < runMs) {
    const due = Math.floor((wall() - start) / interval) + 1;
    for (; i < due; i++) publish(() => {});
    await sleep(1);
  }
  await sleep(500);
  current = null;
  return m.latency;
}

const perSec = await saturate();
await sleep(2000); // let the backlog drain before latency is measured
const meter = cpuMeter([]);
const latency = percentiles(await paced());
const rabbitmqCores = meter().rabbitmq;
await pub.deleteQueue(queue);
await Promise.allSettled([pubConn.close(), subConn.close()]);
console.log(JSON.stringify({ perSec, rate: pacedRate, latency, rabbitmqCores }));
