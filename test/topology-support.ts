/**
 * A compose topology stood up as local processes: nginx from the generated config in front
 * of one node per runtime, on the machine's Redis and (unless AMQP_URL says otherwise) its
 * RabbitMQ; and `verify`, the scenarios readers run against their stacks, run against it.
 */
import { expect } from "bun:test";
import { table, targetOf, verify } from "../src/ops/verify.ts";
import { type Nginx, scratchDir, selfSigned, startNginx } from "./cli/deploy/support.ts";
import { dropNamespace } from "./cleanup.ts";
import { type NodeProc, type RuntimeName, startNode, testNamespace } from "./harness.ts";
import { amqpUrl, redisUrl } from "./services.ts";
import { dropKeys } from "./store/redis/fixtures.ts";

export interface Topology {
  name: string;
  runtimes: RuntimeName[];
  tls: boolean;
}

export interface Stack {
  nodes: NodeProc[];
  /** ws://… or, with TLS, wss://localhost:… (the certificate's name). */
  url: string;
  secret: string;
  namespace: string;
  tearDown(): Promise<void>;
}

/** `env` goes to every node, over the defaults (a fresh DUPLEX_NAMESPACE, the machine's services). */
export async function standUp(t: Topology, env: Record<string, string> = {}): Promise<Stack> {
  const namespace = env.DUPLEX_NAMESPACE ?? testNamespace();
  const secret = `secret-${crypto.randomUUID()}`;
  const ownBroker = env.AMQP_URL !== undefined;
  const nodeEnv = { REDIS_URL: await redisUrl(), AMQP_URL: await amqpUrl(), DUPLEX_NAMESPACE: namespace, DUPLEX_JWT_SECRET: secret, ...env };
  const nodes: NodeProc[] = [];
  let nginx: Nginx | null = null;
  const tearDown = async () => {
    await nginx?.stop();
    await Promise.all(nodes.map((n) => n.kill()));
    // Brokers of the test's own go with their folders; the shared one must be cleaned.
    if (ownBroker) await dropKeys(`${namespace}:*`);
    else await dropNamespace(namespace);
  };
  try {
    for (const runtime of t.runtimes) nodes.push(await startNode({ runtime, env: nodeEnv }));
    const tls = t.tls ? await selfSigned(await scratchDir(), "localhost") : null;
    nginx = await startNginx({
      domain: "localhost", upstream: nodes.map((n) => `127.0.0.1:${n.port}`), ...(tls ? { tls: true, cert: tls.cert, key: tls.key } : {}),
    });
    const { httpPort, httpsPort } = nginx;
    return { nodes, secret, namespace, tearDown, url: t.tls ? `wss://localhost:${httpsPort}` : `ws://127.0.0.1:${httpPort}` };
  } catch (err) {
    await tearDown();
    throw err;
  }
}

/** Runs every `verify` scenario against a ws:// stack from this process, prints the table, and expects no failure. */
export async function expectVerifyPasses(stack: Pick<Stack, "url" | "secret">, label: string): Promise<void> {
  const outcomes = await verify(targetOf(stack.url, stack.secret, (url) => new WebSocket(url)));
  console.log(`${label}\n${table(outcomes)}`);
  expect(outcomes.filter((o) => !o.ok)).toEqual([]);
}
