/**
 * A node that cannot listen says why in one line naming the setting at fault, and exits
 * non-zero: no stack trace, on every runtime (CONTRACT §1, docs chapter 11).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { RUNTIMES, runToExit } from "../harness.ts";

let taken: Server;
let port: number;
beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((ok) => taken.listen(0, "127.0.0.1", ok));
  port = (taken.address() as { port: number }).port;
});
afterAll(() => { taken.close(); });

for (const runtime of RUNTIMES) {
  describe(`start-up failures on ${runtime}`, () => {
    const refused = async (env: Record<string, string>) => {
      const r = await runToExit(runtime, { DUPLEX_JWT_SECRET: "s", ...env });
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      // Only the one line on stderr, and no log line claims the node is listening.
      expect(r.stdout).not.toContain('"msg":"listening"');
      return r.stderr.trim().split("\n");
    };

    test("a port in use: one line naming PORT and its value", async () => {
      expect(await refused({ PORT: String(port) })).toEqual([`duplex: PORT ${port} is already in use (HOST 127.0.0.1)`]);
    });

    test("a bind address that is not this machine's: one line naming HOST and its value", async () => {
      expect(await refused({ PORT: "0", HOST: "192.0.2.1" })).toEqual(['duplex: HOST "192.0.2.1" is not an address of this machine (PORT 0)']);
    });

    test("a bind address that does not resolve: one line naming HOST and its value", async () => {
      expect(await refused({ PORT: "0", HOST: "no-such-host.invalid" })).toEqual(['duplex: HOST "no-such-host.invalid" is not an address of this machine (PORT 0)']);
    });
  });
}
