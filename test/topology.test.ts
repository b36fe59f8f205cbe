/**
 * The compose topologies, stood up here as local processes — nginx from the generated
 * config, nodes on each runtime, the machine's Redis and RabbitMQ — and proven with the
 * same `verify` scenarios readers run against their stacks.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { nginxSite, renderNginx } from "../src/config/nginx.ts";
import { context, table, targetOf, verify } from "../src/ops/verify.ts";
import { cleanUpAfterAll, freePort, selfSigned, startProcess, waitForPort, writeOut, scratchDir } from "./config/support.ts";
import { connect, type NodeProc, type RuntimeName, startNode, testNamespace } from "./harness.ts";
import { dropNamespace } from "./cleanup.ts";
import { amqpUrl, redisUrl } from "./services.ts";

cleanUpAfterAll();

interface Topology {
  name: string;
  runtimes: RuntimeName[];
  tls: boolean;
}

const TOPOLOGIES: Topology[] = [
  { name: "ws: nginx → one node, Redis, RabbitMQ", runtimes: ["bun"], tls: false },
  { name: "wss: the same behind TLS", runtimes: ["bun"], tls: true },
  { name: "cluster: nginx → Bun, Deno and Node nodes, Redis, RabbitMQ", runtimes: ["bun", "deno", "node"], tls: false },
];

async function standUp(t: Topology, extraEnv: Record<string, string> = {}) {
  const namespace = testNamespace();
  const secret = `secret-${crypto.randomUUID()}`;
  const env = { REDIS_URL: await redisUrl(), AMQP_URL: await amqpUrl(), DUPLEX_NAMESPACE: namespace, DUPLEX_JWT_SECRET: secret, ...extraEnv };
  const nodes: NodeProc[] = [];
  for (const runtime of t.runtimes) nodes.push(await startNode({ runtime, env }));
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const tls = t.tls ? await selfSigned(await scratchDir(), "localhost") : null;
  const site = await nginxSite({
    domain: "localhost", upstream: nodes.map((n) => `127.0.0.1:${n.port}`), "http-port": String(httpPort), "https-port": String(httpsPort),
    ...(tls ? { tls: true, cert: tls.cert, key: tls.key } : {}),
  }, {});
  const dir = await writeOut(renderNginx(site));
  const nginx = startProcess("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", "logs/error.log", "-g", "daemon off;"]);
  await waitForPort(t.tls ? httpsPort : httpPort);
  return {
    nodes,
    url: t.tls ? `wss://localhost:${httpsPort}` : `ws://127.0.0.1:${httpPort}`,
    secret,
    async tearDown() {
      await nginx.stop();
      await Promise.all(nodes.map((n) => n.kill()));
      await dropNamespace(namespace);
    },
  };
}

describe("topologies as processes", () => {
  const downs: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const down of downs) await down(); }, 60_000);

  for (const t of TOPOLOGIES) {
    test(`${t.name}: verify passes every scenario`, async () => {
      const stack = await standUp(t);
      downs.push(stack.tearDown);
      // The certificate is self-signed: this process accepts it, as `verify --insecure` does.
      const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      if (t.tls) process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
      try {
        const outcomes = await verify(targetOf(stack.url, stack.secret, (url) => new WebSocket(url, { tls: { rejectUnauthorized: false } } as never)));
        console.log(`${t.name}\n${table(outcomes)}`);
        expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      } finally {
        if (t.tls) process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
      }
    }, 180_000);
  }
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
