import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { renderSystemd, type SystemdFlags, systemdUnit, UNIT_FILE } from "../../../src/cli/deploy/systemd.ts";
import { cleanUpAfterAll, expectGolden, freePort, ROOT, run, scratchDir, waitForPort, writeOut } from "./support.ts";

cleanUpAfterAll();

const unit = (flags: SystemdFlags, env: Record<string, string> = {}) => renderSystemd(systemdUnit(flags, env)).files[UNIT_FILE];
/** The value of every `Key=` line of the unit, in order. */
const values = (text: string, key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);

test("the default unit matches its golden file", async () => {
  await expectGolden("duplex@.service", unit({}));
});

/** systemd-analyze verify on a unit file; it exits 0 even on unknown keys, so its output must be empty too. */
async function verify(text: string, name = UNIT_FILE): Promise<string> {
  const dir = await scratchDir();
  await writeFile(join(dir, name), text);
  const r = await run("systemd-analyze", ["verify", join(dir, name)]);
  return `${r.code === 0 ? "" : `exit ${r.code}\n`}${r.stdout}${r.stderr}`;
}

describe("systemd-analyze verify", () => {
  for (const runtime of ["bun", "deno", "node"]) {
    test(`accepts the ${runtime} unit run from this checkout, without a word`, async () => {
      expect(await verify(unit({ runtime, workdir: ROOT }))).toBe("");
    });
  }

  test("is a real check: it names a misspelt key and a missing executable", async () => {
    const good = unit({ workdir: ROOT });
    expect(await verify(good.replace("Type=exec", "Typo=exec"), "typo@.service")).toContain("Unknown key 'Typo'");
    expect(await verify(unit({ workdir: "/nonexistent" }), "missing@.service")).toContain("/nonexistent/node_modules/.bin/bun is not executable");
  });
});

test("the stop timeout outlasts the drain window and the node's own shutdown bound", () => {
  expect(values(unit({}), "TimeoutStopSec")).toEqual(["20"]);
  expect(values(unit({}), "Environment")).toContain("DUPLEX_DRAIN_MS=5000");
  const long = unit({ "drain-ms": "30000" });
  expect(values(long, "TimeoutStopSec")).toEqual(["45"]);
  expect(values(long, "Environment")).toContain("DUPLEX_DRAIN_MS=30000");
  expect(values(unit({}, { DUPLEX_DRAIN_MS: "1000" }), "TimeoutStopSec")).toEqual(["16"]);
});

test("each runtime starts src/main.ts through the checkout's own binary", () => {
  expect(values(unit({ runtime: "bun" }), "ExecStart")).toEqual(["/opt/duplex/node_modules/.bin/bun run src/main.ts"]);
  expect(values(unit({ runtime: "deno" }), "ExecStart")).toEqual(["/opt/duplex/node_modules/.bin/deno run -A src/main.ts"]);
  expect(values(unit({ runtime: "deno" }), "Environment")).toContain("DENO_DIR=%C/duplex");
  expect(values(unit({ runtime: "node", workdir: "/srv/chat", nofile: "200000" }), "ExecStart")).toEqual(["/srv/chat/node_modules/.bin/tsx src/main.ts"]);
  expect(values(unit({ nofile: "200000" }), "LimitNOFILE")).toEqual(["200000"]);
});

describe("bad input is refused with one line naming the flag", () => {
  const cases: [string, SystemdFlags, string][] = [
    ["an unknown runtime", { runtime: "python" }, '--runtime must be one of bun, deno, node, got "python"'],
    ["a user name with a space", { user: "du plex" }, `--user must be a system user name (lower case letters, digits, '_', '-'), got "du plex"`],
    ["a workdir with a quote", { workdir: '/opt/"x' }, "--workdir path must not contain spaces, quotes"],
    ["too few descriptors", { nofile: "100" }, '--nofile must be an integer from 1024 to 1048576, got "100"'],
    ["a drain window out of range", { "drain-ms": "-1" }, '--drain-ms must be an integer from 0 to 600000, got "-1"'],
  ];
  for (const [what, flags, message] of cases) test(what, () => expect(() => unit(flags)).toThrow(message));
});

test("the unit's ExecStart, environment and stop signal run a node that drains and exits 0 within TimeoutStopSec", async () => {
  const dir = await scratchDir();
  const envFile = join(dir, "duplex.env");
  await writeFile(envFile, "DUPLEX_JWT_SECRET=systemd-test-secret\nHOST=127.0.0.1\n");
  const text = unit({ workdir: ROOT, "env-file": envFile, "drain-ms": "200" });
  const port = await freePort();
  // What systemd does with the unit: expand %i and %l, read EnvironmentFile, then Environment.
  const expand = (s: string) => s.replaceAll("%i", String(port)).replaceAll("%l", hostname().split(".")[0]);
  const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
  for (const line of [...(await Bun.file(envFile).text()).trim().split("\n"), ...values(text, "Environment").map(expand)]) {
    const at = line.indexOf("=");
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  const [cmd, ...args] = values(text, "ExecStart")[0].split(" ");
  const child = spawn(cmd, args, { cwd: values(text, "WorkingDirectory")[0], env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => { out += d; });
  child.stderr.on("data", (d: Buffer) => { out += d; });
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  try {
    await waitForPort(port, "127.0.0.1", 30_000);
    const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as { node: string };
    expect(health.node).toBe(`${hostname().split(".")[0]}-${port}`);
    const stopAt = Date.now();
    child.kill(values(text, "KillSignal")[0] as NodeJS.Signals);
    expect(await exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(Number(values(text, "TimeoutStopSec")[0]) * 1000);
    expect(out).toContain('"msg":"draining"');
  } finally {
    child.kill("SIGKILL");
  }
}, 60_000);
