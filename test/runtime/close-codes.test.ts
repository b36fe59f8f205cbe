/**
 * A persistent flooder gets the 1008 of CONTRACT §4 — read from the client's side of the
 * wire — even when its frames are still arriving as the node closes. (The slow reader's
 * 1013 is checked from the client's side in test/scenarios.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NodeProc, RUNTIMES, startNode } from "../harness.ts";

const ENV = { DUPLEX_RATE: "1000" };
const uid = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;

for (const runtime of RUNTIMES) {
  describe(`close codes seen by the client on ${runtime}`, () => {
    let node: NodeProc;
    beforeAll(async () => { node = await startNode({ runtime, env: ENV }); });
    afterAll(async () => { await node?.kill(); });

    // Deno.serve failed this (it reset the connection under the flood, so the client read
    // 1006): Deno nodes serve through node:http + ws, as Node's do, for this reason.
    test("a client that floods without waiting for answers is closed with 1008", async () => {
      const a = await connect(node, { user: uid("u") });
      // Far past the burst and never pausing for the answers: frames are still arriving
      // when the node closes.
      for (let round = 0; round < 50 && a.ws.readyState === WebSocket.OPEN; round++) {
        for (let i = 0; i < 2000; i++) a.send({ type: "ping", id: `p${round}-${i}` });
        await Bun.sleep(10);
      }
      expect((await a.closed).code).toBe(1008);
    }, 30_000);
  });
}
