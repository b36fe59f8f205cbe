import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { type NodeProc, ROOT, startNode } from "../harness.ts";

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
    expect(r.stdout).toMatch(/^verify: 7 passed, 0 failed$/m);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("pass ")).length).toBe(7);
    expect(r.code).toBe(0);
  });

  test("fails, naming the scenarios, when the target refuses its tokens", () => {
    const r = cli("--url", `ws://127.0.0.1:${node.port}/ws`, "--secret", "not-the-secret");
    expect(r.stdout).toMatch(/^verify: 0 passed, 7 failed$/m);
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
