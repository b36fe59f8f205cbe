import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gcMeter, gcUse } from "../../bench/systems/gc.ts";
import type { Server } from "../../bench/systems/spawn.ts";

// Lines as Bun 1.4's JavaScriptCore writes them with BUN_JSC_logGC=1, among a node's own log lines.
const EDEN = [
  "[GC<0x2a6f1c18118>: START M 33217kb => EdenCollection, a=0kb hf=0.000 mu=0.600 v=0kb (C:0 M:0 P1:0) o=683 b=236 i#1:N<CsMsrShDMsm(243)SrbBcs> 1+243 p=1.197760ms (max 17.272993)...]",
  "[GC<0x2a6f1c18118>: M a=6kb hf=0.000 mu=0.600 v=771kb (C:253 M:0 P1:518) o=683 b=22 i#2:N<WsOJw>Pbc 1+22 => 22514kb, p=1.121696ms (max 17.272993), cycle 3.038922ms END]",
  "GC END!",
  "[GC<0x2a6f1c18118>: epilogue 0.016421ms]",
].join("\n");
const FULL = [
  "Requesting GC because bytes allocated this cycle: 16151810 exceed bytes allowed: 16140084 normal bytes: 16151810 oversized bytes: 0 last oversized: 0",
  "[GC<0x2a6f1c18118>: START M 42338kb => FullCollection, a=0kb hf=0.000 mu=0.600 v=0kb (C:0 M:0 P1:0) o=683 b=226 i#1:N<CsMsrShDMsm(235)SrbBcs> 1+0 p=4.5ms (max 17.272993)...]",
  "[GC<0x2a6f1c18118>: M a=23kb hf=0.003 mu=0.598 v=1304kb i#2:N<WsOJw>Pbc 0+68 p=0.25ms (max 17.272993)...]",
  "[GC<0x2a6f1c18118>: M a=0kb i#3:P<CsMsm(0)ShBcsSrbMsrDCbDomoJwOWs>Pbc => 25974kb, p=0.967014ms (max 17.272993), cycle 6.052247ms END]",
].join("\n");
const OWN = '{"time":"2026-12-05T20:14:51.400Z","level":"info","node":"n","msg":"connected","session":"s","user":"up=3ms","device":"d"}';

describe("JavaScriptCore's collections, read from a Bun server's log", () => {
  test("counts each collection once, the full ones apart, and sums every pause it made", () => {
    const use = gcUse([OWN, EDEN, OWN, FULL, OWN].join("\n"));
    expect(use.collections).toBe(2);
    expect(use.full).toBe(1);
    expect(use.pauseMs).toBeCloseTo(1.19776 + 1.121696 + 4.5 + 0.25 + 0.967014, 6);
    expect(use.maxPauseMs).toBe(4.5);
  });

  test("a log without collections reads as none", () => {
    expect(gcUse(`${OWN}\n${OWN}`)).toEqual({ collections: 0, full: 0, pauseMs: 0, maxPauseMs: 0 });
  });

  test("the meter counts only what the servers that log collections wrote after it started", () => {
    const dir = mkdtempSync(join(tmpdir(), "duplex-gc-"));
    try {
      const server = (name: string, gcLogged: boolean) => {
        const log = join(dir, `${name}.log`);
        writeFileSync(log, `${FULL}\n`);
        return { name, pid: 0, port: 0, log, gcLogged, exited: Promise.resolve(0), stop: async () => {} } satisfies Server;
      };
      const [a, b, silent] = [server("a", true), server("b", true), server("c", false)];
      const meter = gcMeter([a, b, silent]);
      appendFileSync(a.log, `${EDEN}\n${OWN}\n`);
      appendFileSync(b.log, `${EDEN}\n${EDEN}\n`);
      appendFileSync(silent.log, `${FULL}\n`);
      const use = meter()!;
      expect(use.collections).toBe(3);
      expect(use.full).toBe(0);
      expect(use.pauseMs).toBeCloseTo(3 * (1.19776 + 1.121696), 6);
      expect(use.maxPauseMs).toBe(1.19776);
      expect(gcMeter([silent])()).toBe(null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
