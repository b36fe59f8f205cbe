import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { COMMANDS } from "../../src/cli/commands.ts";
import { mintToken, verifyToken } from "../../src/http/auth.ts";
import { loadConfig } from "../../src/core/config.ts";
import { errorLines, linePattern, linesOf } from "../../src/cli/error-lines.ts";
import { EXPLANATIONS, explain, LIBRARY_LINES } from "../../src/cli/troubleshooting.ts";
import { dropNamespace } from "../cleanup.ts";
import { type NodeProc, rawUpgrade, ROOT, startNode, testNamespace } from "../harness.ts";
import { amqpUrl, redisUrl } from "../services.ts";

describe("reading error lines from source", () => {
  test("finds each maker's literal message, with placeholders for what the code fills in", () => {
    const src = [
      'throw duplexError("bad_request", `--x must be ${min} to ${o.max}, got "${raw}"`);',
      "bad(\"--y\", 'it\\'s \"quoted\"');",
      'bad("--z", `got ${raw.replace(/["\'`)]/g, "")}, ${maskUrl(url)}`);',
      'log.warn("shard batch failed; retrying", { a: 1 });',
      "this.#o.log.error(`the hub's ${what} handler threw`, x);",
      "throw duplexError(r.code, r.message);",
      'throw duplexError("unauthorized", expired ? "the token has expired" : "the token is invalid");',
      "const wrap = (m: string) => duplexError(\"bad_request\", `${m}`);",
      'if (!ok) check(false, "acks do not carry seq 1..n");',
      "console.error(`duplex: ${err.message}`);",
      "console.error(`duplex: port ${port} is taken`);",
      'throw new DuplexError("unavailable", "gone");',
    ].join("\n");
    expect(linesOf(src)).toEqual([
      { message: '--x must be <min> to <max>, got "<raw>"', kind: "bad_request" },
      { message: '--y it\'s "quoted"', kind: "bad_request" },
      { message: "--z got <…>, <url>", kind: "bad_request" },
      { message: "shard batch failed; retrying", kind: "log warn" },
      { message: "the hub's <what> handler threw", kind: "log error" },
      { message: "the token has expired", kind: "unauthorized" },
      { message: "the token is invalid", kind: "unauthorized" },
      { message: "acks do not carry seq 1..n", kind: "" },
      { message: "duplex: port <port> is taken", kind: "" },
      { message: "gone", kind: "unavailable" },
    ]);
  });

  test("a placeholder matches any text in the printed line, the rest only itself", () => {
    const p = linePattern('--x must be <min> to <max>, got "<raw>"');
    expect(p.test('duplex nginx: --x must be 1 to 9, got "0"')).toBe(true);
    expect(p.test('--x must be 1 to 9, got 0')).toBe(false);
  });

  test("finds the lines of every part of duplex an operator meets", () => {
    const files = new Set(errorLines(ROOT).flatMap((l) => l.files));
    for (const f of ["src/core/config.ts", "src/http/app.ts", "src/http/auth.ts", "src/cli/deploy/nginx.ts", "src/ops/verify.ts", "src/broker/rabbitmq/broker.ts", "src/redis/connection.ts", "src/main.ts"]) {
      expect(files).toContain(f);
    }
  });
});

describe("the troubleshooting chapter", () => {
  test("explains every error line the code can print, and nothing that no longer exists", () => {
    const { unexplained, unused } = explain();
    expect(unexplained.map((l) => `${l.message} (${l.files.join(", ")})`)).toEqual([]);
    expect(unused.map((e) => e.match.join(" / "))).toEqual([]);
  });

  test("each explanation states a cause and a fix", () => {
    for (const e of EXPLANATIONS) {
      expect(e.cause.length).toBeGreaterThan(20);
      expect(e.fix.length).toBeGreaterThan(10);
    }
  });
});

/** Lines that a real node, the CLI and verify printed; each must match a row of the chapter. */
const printed: string[] = [];
const rows = explain().rows;
const unmatched = () => printed.filter((line) => !rows.some((r) => linePattern(r.message).test(line)));
const messageOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected a refusal");
};
const rejection = async (p: Promise<unknown>) => (await p.then(() => { throw new Error("expected a refusal"); }, (err: Error) => err.message));
const cli = (...args: string[]) => spawnSync(`${ROOT}/node_modules/.bin/bun`, ["run", "src/cli.ts", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, DUPLEX_JWT_SECRET: "" } });
/** The `duplex: ...` line a node that cannot start printed. */
const startupLine = async (env: Record<string, string>) => {
  const err = await rejection(startNode({ env, timeoutMs: 20_000 }));
  const line = err.split("\n").find((l) => l.startsWith("duplex: "));
  if (!line) throw new Error(`no start-up line in:\n${err}`);
  return line;
};

describe("lines printed for real match a row of the chapter", () => {
  let node: NodeProc;
  let namespace: string;
  beforeAll(async () => {
    node = await startNode({ env: { DUPLEX_ENV: "production" } });
    namespace = testNamespace();
  }, 30_000);
  afterAll(async () => {
    await node?.kill();
    await dropNamespace(namespace, 4);
  }, 30_000);

  test("a node's start-up refusals: bad settings, an unreachable Redis, a shard-count mismatch", async () => {
    printed.push(
      messageOf(() => loadConfig({ DUPLEX_ENV: "production" })),
      messageOf(() => loadConfig({ PORT: "http" })),
      messageOf(() => loadConfig({ DUPLEX_QUEUE_TYPE: "fast" })),
      messageOf(() => loadConfig({ NODE_ID: "a b" })),
      messageOf(() => loadConfig({ AMQP_URL: "amqp://x" })),
      await startupLine({ REDIS_URL: "redis://127.0.0.1:1" }),
    );
    const cluster = { REDIS_URL: await redisUrl(), AMQP_URL: await amqpUrl(), DUPLEX_NAMESPACE: namespace };
    const first = await startNode({ env: { ...cluster, DUPLEX_SHARDS: "4" } });
    try {
      printed.push(await startupLine({ ...cluster, DUPLEX_SHARDS: "8" }));
    } finally {
      await first.kill();
    }
    expect(printed.at(-1)).toContain("DUPLEX_SHARDS=8 disagrees");
    expect(unmatched()).toEqual([]);
  }, 60_000);

  test("HTTP refusals: a wrong secret, an expired token, a foreign Origin, the dev token endpoint in production", async () => {
    const wrong = await mintToken("alice", "not-the-nodes-secret");
    const res = await fetch(`${node.url}/api/conversations`, { headers: { authorization: `Bearer ${wrong}` } });
    expect(res.status).toBe(401);
    printed.push(((await res.json()) as { error: { message: string } }).error.message);
    const expired = await mintToken("alice", node.secret, 1);
    await new Promise((r) => setTimeout(r, 2100));
    printed.push(await rejection(verifyToken(expired, node.secret, 3600)));
    const origin = await rawUpgrade(node.port, "/ws?token=x", { Origin: "https://evil.example" });
    expect(origin.status).toBe(403);
    printed.push(JSON.parse(origin.body).error.message);
    const dev = await fetch(`${node.url}/api/dev/token`, { method: "POST", body: "{}" });
    printed.push(((await dev.json()) as { error: { message: string } }).error.message);
    expect(unmatched()).toEqual([]);
  }, 30_000);

  test("the CLI's refusals, its own and the argument parser's", async () => {
    const refusals: [string, Record<string, string | string[]>][] = [
      ["nginx", { domain: "chat_example.com", upstream: ["a:1"] }],
      ["nginx", { domain: "chat.example.com", upstream: ["a:1"], "proxy-header": ["X_Id: 1"] }],
      ["token", { user: "alice" }],
      ["systemd", { nofile: "10" }],
      ["prometheus", { target: ["a:1", "a:1"] }],
      ["redis-conf", { bind: ["10.0.0.1"] }],
    ];
    for (const [command, flags] of refusals) printed.push(await rejection(COMMANDS[command].run(flags, {})));
    for (const args of [["nginx", "--nope"], ["nginx", "--domain"], ["fly"]]) {
      const r = cli(...args);
      expect(r.status).toBe(1);
      printed.push(r.stderr.trim());
    }
    expect(unmatched()).toEqual([]);
  }, 30_000);

  test("verify with the wrong secret: its failures", async () => {
    const r = cli("verify", "--url", node.wsUrl.replace(/\/ws$/, ""), "--secret", "not-the-nodes-secret");
    expect(r.status).toBe(1);
    const failures = r.stdout.split("\n").filter((l) => /^ {6}\S/.test(l)).map((l) => l.trim());
    expect(failures.length).toBeGreaterThan(3);
    printed.push(...failures);
    expect(unmatched()).toEqual([]);
  }, 60_000);

  test("the library's own lines are on the list too", () => {
    expect(LIBRARY_LINES.every((l) => rows.some((r) => r.message === l.message))).toBe(true);
  });
});
