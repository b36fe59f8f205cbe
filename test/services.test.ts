import { expect, test } from "bun:test";
import { amqpUrl, dockerEngine, redisUrl } from "./services.ts";

test("finds the machine's Redis and RabbitMQ, preferring the environment", async () => {
  expect(await redisUrl()).toBe(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  expect(await amqpUrl()).toBe(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672");
});

test("reports no Docker engine where none answers, so Testcontainers is skipped", async () => {
  expect(await dockerEngine(`/tmp/no-docker-${crypto.randomUUID()}.sock`)).toBe(false);
});
