import { expect, test } from "bun:test";
import { loadConfig, maskUrl, SETTINGS } from "../../src/core/config.ts";

test("starts on the contract's defaults with an empty environment", () => {
  const c = loadConfig({});
  expect(c).toMatchObject({
    port: 8080, host: "127.0.0.1", redisUrl: undefined, amqpUrl: undefined, jwtSecret: undefined, shards: 16,
    namespace: "duplex", allowedOrigins: null, maxMessageBytes: 65536, rate: 100, production: false,
  });
  expect(c.nodeId).toMatch(/^n-[0-9a-f]{8}$/);
});

test("refuses each bad value with a message naming the variable", () => {
  const bad: [Record<string, string>, string][] = [
    [{ PORT: "http" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ DUPLEX_SHARDS: "0" }, "DUPLEX_SHARDS"],
    [{ DUPLEX_RATE: "1.5" }, "DUPLEX_RATE"],
    [{ DUPLEX_MAX_MESSAGE_BYTES: "-1" }, "DUPLEX_MAX_MESSAGE_BYTES"],
    [{ DUPLEX_NAMESPACE: "a b" }, "DUPLEX_NAMESPACE"],
    [{ NODE_ID: "x/y" }, "NODE_ID"],
    [{ DUPLEX_ENV: "prod" }, "DUPLEX_ENV"],
    [{ DUPLEX_ENV: "production" }, "DUPLEX_JWT_SECRET"],
    [{ DUPLEX_QUEUE_TYPE: "stream" }, "DUPLEX_QUEUE_TYPE"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ AMQP_URL: "amqp://127.0.0.1" }, "AMQP_URL needs REDIS_URL"],
    [{ DUPLEX_MAX_TOKEN_TTL: "0s" }, "DUPLEX_MAX_TOKEN_TTL"],
    [{ DUPLEX_MAX_TOKEN_TTL: "366d" }, "DUPLEX_MAX_TOKEN_TTL"],
    [{ DUPLEX_MAX_TOKEN_TTL: "a day" }, "DUPLEX_MAX_TOKEN_TTL"],
    [{ DUPLEX_TRUSTED_PROXIES: "10.0.0.0/33" }, "DUPLEX_TRUSTED_PROXIES"],
    [{ DUPLEX_TRUSTED_PROXIES: "nginx" }, "DUPLEX_TRUSTED_PROXIES"],
    // Number() reads these as numbers; other readers of the same value might not.
    [{ PORT: "1e3" }, "PORT"],
    [{ PORT: "0x50" }, "PORT"],
    [{ PORT: "08080" }, "PORT"],
    [{ PORT: " 80" }, "PORT"],
    [{ DUPLEX_REQUEST_TIMEOUT_MS: "9999" }, "DUPLEX_REQUEST_TIMEOUT_MS"],
  ];
  for (const [env, name] of bad) expect(() => loadConfig(env)).toThrow(name);
});

test("takes a heartbeat of 1000 ms or more, and refuses a shorter one that Deno's whole-second idle timeout could not honour", () => {
  expect(loadConfig({ DUPLEX_HEARTBEAT_MS: "1000" }).heartbeatMs).toBe(1000);
  expect(() => loadConfig({ DUPLEX_HEARTBEAT_MS: "999" })).toThrow('DUPLEX_HEARTBEAT_MS must be an integer from 1000 to 600000, got "999"');
});

test("every numeric setting enforces exactly the range its documentation states", () => {
  const ranged = Object.values(SETTINGS).filter((s) => /^\d+ to \d+$/.test(s.values));
  expect(ranged.map((s) => s.env)).toContain("DUPLEX_HEARTBEAT_MS");
  for (const s of ranged) {
    const [min, max] = s.values.split(" to ").map(Number);
    expect(s.parse(String(min))).toBe(min);
    expect(s.parse(String(max))).toBe(max);
    expect(() => s.parse(String(min - 1))).toThrow(s.env);
    expect(() => s.parse(String(max + 1))).toThrow(s.env);
  }
});

test("reads the Origin allow-list as a trimmed list", () => {
  expect(loadConfig({ DUPLEX_ALLOWED_ORIGINS: " https://a.example, https://b.example ," }).allowedOrigins)
    .toEqual(["https://a.example", "https://b.example"]);
});

test("masks passwords in URLs it prints", () => {
  expect(maskUrl("redis://user:hunter2@db:6379/0")).toBe("redis://user:***@db:6379/0");
  expect(maskUrl("amqp://guest:guest@127.0.0.1:5672")).not.toContain("guest@");
  expect(maskUrl("redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
});

test("a token may live 24 h by default; DUPLEX_MAX_TOKEN_TTL takes durations like the CLI's --ttl", () => {
  expect(loadConfig({}).maxTokenTtl).toBe(86400);
  expect(loadConfig({ DUPLEX_MAX_TOKEN_TTL: "15m" }).maxTokenTtl).toBe(900);
  expect(loadConfig({ DUPLEX_MAX_TOKEN_TTL: "365d" }).maxTokenTtl).toBe(365 * 86400);
});

test("trusts proxies on this machine by default, a list of addresses and ranges when given, none on request", () => {
  expect(loadConfig({}).trustedProxies).toHaveLength(2);
  expect(loadConfig({ DUPLEX_TRUSTED_PROXIES: " 10.0.0.0/8, fd00::/8 ,192.0.2.1" }).trustedProxies).toHaveLength(3);
  expect(loadConfig({ DUPLEX_TRUSTED_PROXIES: "none" }).trustedProxies).toEqual([]);
});
