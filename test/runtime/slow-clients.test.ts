/**
 * Slowloris: connections that send a request's headers or body slowly, or never finish
 * them, are closed within DUPLEX_REQUEST_TIMEOUT_MS (CONTRACT §1) while the node keeps
 * serving everyone else.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cleanUpAfterAll, startNginx } from "../cli/deploy/support.ts";
import { connect as tcp, type Socket } from "node:net";
import { mintToken, type NodeProc, RUNTIMES, startNode } from "../harness.ts";

cleanUpAfterAll();

const BOUND_MS = 10_000;
/** Bun rounds the bound up to whole seconds and checks it on a coarse timer, about 2 s late. */
const SLACK_MS = 3000;

/** Resolves with the milliseconds the socket stayed open; `talk` decides what it sends. */
function openFor(port: number, talk: (s: Socket) => void): Promise<number> {
  const start = performance.now();
  return new Promise((done) => {
    const s = tcp(port, "127.0.0.1");
    s.on("connect", () => talk(s));
    s.on("error", () => {});
    // Reading is what notices the node's FIN (or its 408).
    s.resume();
    s.on("close", () => done(Math.round(performance.now() - start)));
    setTimeout(() => s.destroy(), BOUND_MS + SLACK_MS + 5000);
  });
}

/** Writes `text` one byte every 200 ms, so the connection is never idle for long. */
function trickle(s: Socket, text: string): void {
  let i = 0;
  const timer = setInterval(() => (s.destroyed || i >= text.length ? clearInterval(timer) : s.write(text[i++])), 200);
}

for (const runtime of RUNTIMES) {
  describe(`slow clients on ${runtime}`, () => {
    let node: NodeProc;
    afterAll(async () => { await node?.kill(); });

    // Deno.serve has no read deadline for headers or bodies (denoland/deno#3515): Deno nodes
    // serve through node:http, as Node's do, and meet the bound for this reason.
    test(`closes slowloris connections within DUPLEX_REQUEST_TIMEOUT_MS while serving others`, async () => {
      node = await startNode({ runtime, env: { DUPLEX_REQUEST_TIMEOUT_MS: String(BOUND_MS) } });
      const token = await mintToken("u1", node.secret);
      const head = `POST /api/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
        "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n";
      const slow = {
        "says nothing": openFor(node.port, () => {}),
        "stops inside the headers": openFor(node.port, (s) => s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n")),
        "trickles its headers": openFor(node.port, (s) => trickle(s, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(100)}`)),
        "trickles its body": openFor(node.port, (s) => { s.write(head); trickle(s, `{"members":["u2"]${" ".repeat(182)}}`); }),
      };
      // Meanwhile everyone else is served.
      const served: number[] = [];
      const probe = setInterval(async () => served.push((await fetch(`${node.url}/healthz`)).status), 500);
      const open: Record<string, number> = Object.fromEntries(await Promise.all(Object.entries(slow).map(async ([k, p]) => [k, await p])));
      clearInterval(probe);
      console.log(`${runtime}: slow connections closed after`, open);
      for (const [what, ms] of Object.entries(open)) expect({ what, closedInTime: ms <= BOUND_MS + SLACK_MS }).toEqual({ what, closedInTime: true });
      expect(served.length).toBeGreaterThan(2);
      expect(served.every((s) => s === 200)).toBe(true);
    }, 40_000);
  });
}

describe("slow clients stopped by the generated nginx in front of a node", () => {
  test("nginx cuts slow headers within --request-timeout-ms, and the node keeps serving", async () => {
    const node = await startNode({ runtime: "deno", env: { DUPLEX_REQUEST_TIMEOUT_MS: String(BOUND_MS) } });
    const nginx = await startNginx({ domain: "chat.example.test", upstream: [`127.0.0.1:${node.port}`], "request-timeout-ms": String(BOUND_MS) });
    try {
      const slow = {
        "says nothing": openFor(nginx.httpPort, () => {}),
        "stops inside the headers": openFor(nginx.httpPort, (s) => s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n")),
        "trickles its headers": openFor(nginx.httpPort, (s) => trickle(s, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(100)}`)),
      };
      const open: Record<string, number> = Object.fromEntries(await Promise.all(Object.entries(slow).map(async ([k, p]) => [k, await p])));
      console.log("deno behind nginx: slow connections closed after", open);
      for (const [what, ms] of Object.entries(open)) expect({ what, closedInTime: ms <= BOUND_MS + SLACK_MS }).toEqual({ what, closedInTime: true });
      expect((await fetch(`http://127.0.0.1:${nginx.httpPort}/healthz`)).status).toBe(200);
    } finally {
      await nginx.stop();
      await node.kill();
    }
  }, 40_000);
});
