import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { api, mintToken, type NodeProc, ROOT, RUNTIMES, startNode } from "../harness.ts";

const RUN = {
  bun: [join(ROOT, "node_modules/.bin/bun"), "run"],
  deno: [join(ROOT, "node_modules/.bin/deno"), "run", "-A"],
  node: [join(ROOT, "node_modules/.bin/tsx")],
};

describe("the client on every runtime", () => {
  let node: NodeProc;
  beforeAll(async () => { node = await startNode(); }, 60_000);
  afterAll(async () => { await node?.kill(); }, 60_000);

  for (const runtime of RUNTIMES) {
    test(`sends and receives on ${runtime}${runtime === "node" ? " (Node 20: the ws package's WebSocket)" : ""}`, async () => {
      const user = `rt-${crypto.randomUUID().slice(0, 6)}`;
      const conv = (await api(node, user, "/api/conversations", { body: { members: [user] } })).body.id;
      const [cmd, ...args] = RUN[runtime];
      const run = spawnSync(cmd, [...args, "test/client/runtime-device.ts"], {
        cwd: ROOT, encoding: "utf8", timeout: 45_000,
        env: { ...process.env, DUPLEX_URL: node.url, TOKEN: await mintToken(user, node.secret), CONV: conv },
      });
      expect({ out: run.stdout.trim(), err: run.status === 0 ? "" : run.stderr }).toEqual({
        out: JSON.stringify({ ack: 1, got: { text: "across runtimes" } }), err: "",
      });
    }, 60_000);
  }
});
