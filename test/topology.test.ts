/**
 * The compose topologies, stood up here as local processes — nginx from the generated
 * config, nodes on each runtime, the machine's Redis and RabbitMQ — and proven with the
 * same `verify` scenarios readers run against their stacks (wss through the CLI itself).
 * The three-broker RabbitMQ stack is in topology-rabbitmq.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { context, SCENARIOS, targetOf } from "../src/ops/verify.ts";
import { cleanUpAfterAll, run } from "./cli/deploy/support.ts";
import { connect } from "./harness.ts";
import { expectVerifyPasses, type Stack, standUp, type Topology } from "./topology-support.ts";

cleanUpAfterAll();

const PLAIN: Topology[] = [
  { name: "ws: nginx → one node, Redis, RabbitMQ", runtimes: ["bun"], tls: false },
  { name: "cluster: nginx → Bun, Deno and Node nodes, Redis, RabbitMQ", runtimes: ["bun", "deno", "node"], tls: false },
];

describe("topologies as processes", () => {
  const downs: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const down of downs) await down(); }, 60_000);

  for (const t of PLAIN) {
    test(`${t.name}: verify passes every scenario`, async () => {
      const stack = await standUp(t);
      downs.push(stack.tearDown);
      await expectVerifyPasses(stack, t.name);
    }, 180_000);
  }
});

/** The CLI as readers run it: `duplex verify --url … --secret … [--insecure]`. */
const verifyCli = (stack: Stack, ...flags: string[]) =>
  run("node_modules/.bin/bun", ["run", "src/cli.ts", "verify", "--url", stack.url, "--secret", stack.secret, ...flags], { timeoutMs: 120_000 });

describe("wss: the same behind TLS, with a self-signed certificate", () => {
  let stack: Stack;
  beforeAll(async () => { stack = await standUp({ name: "wss", runtimes: ["bun"], tls: true }); }, 60_000);
  afterAll(async () => { await stack?.tearDown(); }, 30_000);

  test("`duplex verify --insecure` passes every scenario and exits 0", async () => {
    const r = await verifyCli(stack, "--insecure");
    console.log(`wss: duplex verify --insecure\n${r.stdout}${r.stderr}`);
    expect(r.stdout).toContain(`verify: ${SCENARIOS.length} passed, 0 failed`);
    expect(r.stdout).not.toContain("FAIL");
    expect(r.code).toBe(0);
  }, 150_000);

  test("without --insecure, `duplex verify` refuses the certificate in one line and exits non-zero", async () => {
    const r = await verifyCli(stack);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^duplex verify: cannot reach https:\/\/localhost:\d+: .*certificate/i)]);
  }, 60_000);
});

test("nginx passes new connections around a node that is draining", async () => {
  const stack = await standUp({ name: "two nodes", runtimes: ["bun", "bun"], tls: false }, { DUPLEX_DRAIN_MS: "8000" });
  try {
    const [leaving, staying] = stack.nodes;
    // Held open so that the drain lasts (their closes spread over the window): the leaving
    // node refuses upgrades with 503 meanwhile.
    const held = await Promise.all([1, 2, 3, 4].map((i) => connect(leaving, { user: "held", device: `d${i}` })));
    const exited = leaving.stop("SIGTERM");
    await Bun.sleep(200);
    const target = targetOf(stack.url, stack.secret, (url) => new WebSocket(url));
    const ctx = context(target);
    // Opened together and kept open: least_conn alone would give the leaving node half.
    const probes = await Promise.all(Array.from({ length: 8 }, (_, i) => ctx.connect(ctx.user(`u${i}`), "d")));
    expect(probes.map((p) => p.welcome.node)).toEqual(probes.map(() => staying.nodeId));
    for (const p of probes) p.close();
    for (const h of held) expect((await h.closed).code).toBe(1001);
    expect(await exited).toBe(0);
  } finally {
    await stack.tearDown();
  }
}, 60_000);
