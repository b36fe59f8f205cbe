import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createClient } from "redis";
import { redisConf, renderRedis } from "../../../src/cli/deploy/redis.ts";
import { cleanUpAfterAll, expectGolden, freePort, run, scratchDir, startProcess, waitForPort, writeOut } from "./support.ts";

cleanUpAfterAll();

test("the default redis.conf matches its golden file", async () => {
  await expectGolden("redis.conf", renderRedis(redisConf({}, {})).files["redis.conf"]);
});

test("a password from REDIS_PASSWORD is written as requirepass and allows a remote bind", async () => {
  const text = renderRedis(redisConf({ bind: ["10.0.0.5"] }, { REDIS_PASSWORD: "correct-horse-battery" })).stdout;
  expect(text).toContain('requirepass "correct-horse-battery"\n');
  expect(text).toContain("bind 10.0.0.5\n");
});

describe("redis-server with the generated redis.conf", () => {
  let port: number;
  let server: ReturnType<typeof startProcess>;
  const cli = async (...args: string[]) => (await run("redis-cli", ["-p", String(port), ...args])).stdout.trim();

  beforeAll(async () => {
    port = await freePort();
    const data = join(await scratchDir(), "data");
    await mkdir(data);
    // Small enough to reach in a test: the point is what happens at the limit.
    const dir = await writeOut(renderRedis(redisConf({ port: String(port), dir: data, maxmemory: "3mb" }, {})));
    server = startProcess("redis-server", [join(dir, "redis.conf")]);
    await waitForPort(port);
  }, 30_000);
  afterAll(async () => { await server?.stop(); }, 10_000);

  test("answers PING", async () => {
    expect(await cli("PING")).toBe("PONG");
  });

  test("runs with noeviction, AOF every second and no keyspace events", async () => {
    expect(await cli("CONFIG", "GET", "maxmemory-policy")).toBe("maxmemory-policy\nnoeviction");
    expect(await cli("CONFIG", "GET", "appendonly")).toBe("appendonly\nyes");
    expect(await cli("CONFIG", "GET", "appendfsync")).toBe("appendfsync\neverysec");
    expect(await cli("CONFIG", "GET", "notify-keyspace-events")).toBe("notify-keyspace-events");
  });

  test("refuses writes at maxmemory and keeps every key it accepted", async () => {
    const value = "x".repeat(64 * 1024);
    const stored: string[] = [];
    let refusal = "";
    for (let i = 0; i < 200 && !refusal; i++) {
      const r = await run("redis-cli", ["-p", String(port), "-x", "SET", `k${i}`], { input: value });
      if (r.stdout.trim() === "OK") stored.push(`k${i}`);
      else refusal = r.stdout + r.stderr;
    }
    expect(refusal).toContain("OOM");
    expect(stored.length).toBeGreaterThan(0);
    expect(Number(await cli("EXISTS", ...stored))).toBe(stored.length);
  });
});

describe("a REDIS_PASSWORD with characters redis.conf would otherwise read differently", () => {
  const passwords = [
    String.raw`back\slash\\double\x41-and-more`,
    `quote"inside'and-spaces in it`,
    "dollar$hash#semicolon;{braces}-ünïcode",
  ];
  for (const password of passwords) {
    test(`redis-server accepts AUTH with exactly ${JSON.stringify(password)}, and nothing else`, async () => {
      const port = await freePort();
      const data = join(await scratchDir(), "data");
      await mkdir(data);
      const dir = await writeOut(renderRedis(redisConf({ port: String(port), dir: data }, { REDIS_PASSWORD: password })));
      const server = startProcess("redis-server", [join(dir, "redis.conf")]);
      try {
        await waitForPort(port);
        const auth = async (pass: string) => {
          const client = createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy: false }, password: pass });
          client.on("error", () => {});
          try {
            await client.connect();
            return await client.ping();
          } catch (err) {
            return (err as Error).message;
          } finally {
            if (client.isOpen) await client.quit().catch(() => {});
          }
        };
        expect(await auth(password)).toBe("PONG");
        expect(await auth(password.slice(0, -1))).toContain("WRONGPASS");
      } finally {
        await server.stop();
      }
    }, 30_000);
  }

  test("a password with a newline is refused in one line naming REDIS_PASSWORD", () => {
    expect(() => redisConf({}, { REDIS_PASSWORD: "sixteen-chars-and\nmore" })).toThrow("REDIS_PASSWORD must be at least 16 characters, none of them a control character");
  });
});
