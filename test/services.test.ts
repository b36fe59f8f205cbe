import { expect, test } from "bun:test";
import { amqpUrl, answers, configuredUrl, dockerEngine, redisUrl } from "./services.ts";

test("finds the machine's Redis and RabbitMQ, preferring the environment", async () => {
  expect(await redisUrl()).toBe(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  expect(await amqpUrl()).toBe(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
  expect([configuredUrl("REDIS_URL"), configuredUrl("AMQP_URL")]).toEqual([await redisUrl(), await amqpUrl()]);
});

test("a service answers at the URL it was found at, and nothing answers on a closed port", async () => {
  expect(await answers(await redisUrl())).toBe(true);
  expect(await answers(await amqpUrl())).toBe(true);
  expect(await answers("redis://127.0.0.1:1")).toBe(false);
});

test("reports no Docker engine where none answers, so Testcontainers is skipped", async () => {
  expect(await dockerEngine(`/tmp/no-docker-${crypto.randomUUID()}.sock`)).toBe(false);
});
