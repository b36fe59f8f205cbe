import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { dropNamespace } from "../cleanup.ts";
import { type NodeProc, ROOT, startNode, testNamespace } from "../harness.ts";
import { redisUrl } from "../services.ts";
import { listKeys } from "../store/redis/fixtures.ts";

const cli = (...args: string[]) => {
  const r = spawnSync(`${ROOT}/node_modules/.bin/bun`, ["run", "src/cli.ts", "verify", ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe("duplex verify", () => {
  let node: NodeProc;
  beforeAll(async () => { node = await startNode(); });
  afterAll(async () => { await node?.kill(); });

  test("passes every scenario against a healthy node and prints the table", () => {
    const r = cli("--url", `ws://127.0.0.1:${node.port}`, "--secret", node.secret);
    expect(r.stdout).toMatch(/^verify: 8 passed, 0 failed$/m);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("pass ")).length).toBe(8);
    expect(r.code).toBe(0);
  });

  test("fails, naming the scenarios, when the target refuses its tokens", () => {
    const r = cli("--url", `ws://127.0.0.1:${node.port}/ws`, "--secret", "not-the-secret");
    expect(r.stdout).toMatch(/^verify: 0 passed, 8 failed$/m);
    expect(r.code).toBe(1);
  });

  test("says in one line what it could not reach, and exits non-zero", () => {
    const r = cli("--url", "ws://127.0.0.1:1", "--secret", "s");
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringContaining("cannot reach http://127.0.0.1:1")]);
    expect(r.code).toBe(1);
  });

  test("refuses a URL that is not ws:// or wss://, and a missing secret", () => {
    expect(cli("--url", "http://127.0.0.1:8080", "--secret", "s").stderr).toContain("--url must start with ws:// or wss://");
    const noSecret = spawnSync(`${ROOT}/node_modules/.bin/bun`, ["run", "src/cli.ts", "verify", "--url", "ws://127.0.0.1:1"], {
      cwd: ROOT, encoding: "utf8", env: { ...process.env, DUPLEX_JWT_SECRET: "" },
    });
    expect(noSecret.stderr).toContain("--secret");
    expect(noSecret.status).toBe(1);
  });
});

describe("duplex verify against a node on Redis", () => {
  const ns = testNamespace();
  let node: NodeProc;
  beforeAll(async () => {
    node = await startNode({ env: { REDIS_URL: await redisUrl(), DUPLEX_NAMESPACE: ns } });
  });
  afterAll(async () => {
    await node?.kill();
    await dropNamespace(ns);
  });

  test("leaves no key of its conversations, users or sessions behind: only the node's own remain", async () => {
    // Asynchronously, so the node's heartbeat keeps running while verify does.
    const run = spawn(`${ROOT}/node_modules/.bin/bun`, ["run", "src/cli.ts", "verify", "--url", node.wsUrl, "--secret", node.secret], { cwd: ROOT });
    let stdout = "";
    run.stdout.on("data", (d: Buffer) => { stdout += d; });
    expect(await new Promise((done) => run.on("close", done))).toBe(0);
    expect(stdout).toMatch(/^verify: 8 passed, 0 failed$/m);
    const left = async () => (await listKeys(`${ns}:*`)).filter((k) => k !== `${ns}:nodes` && !k.startsWith(`${ns}:node:`)).sort();
    // Sessions go when the node sees their sockets close, a moment after verify exits.
    const deadline = Date.now() + 10_000;
    while ((await left()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await left()).toEqual([]);
    // An emptied index is deleted by Redis: no session of verify's is left on the node.
    expect(await listKeys(`${ns}:node:*:sessions`)).toEqual([]);
  }, 120_000);
});
