/**
 * JavaScriptCore's collections in a Bun server during a step. A Bun process started with
 * BUN_JSC_logGC=1 (GC_LOG) writes a line to stderr, which startServer sends to the server's
 * log, when a collection starts and one for each pause of it, with the pause's length:
 *
 *   [GC<0x…>: START M 33217kb => EdenCollection, … p=1.197760ms (max 17.272993)...]
 *   [GC<0x…>: M a=6kb … => 22514kb, p=1.121696ms (max 17.272993), cycle 3.038922ms END]
 *
 * A collection stops the event loop in every such pause, and a message that arrives then
 * waits it out. Reading the log from an offset counts only the step's collections.
 */
import { openSync, readSync, closeSync, statSync } from "node:fs";
import type { Server } from "./spawn.ts";

/** The environment that makes a Bun process log its collections. */
export const GC_LOG = { BUN_JSC_logGC: "1" };

export interface GcUse {
  /** Collections started during the step. */
  collections: number;
  /** Of them, full collections (the rest are eden: the young objects only). */
  full: number;
  /** The event loop's pauses for them, summed (ms). */
  pauseMs: number;
  /** The longest single pause (ms). */
  maxPauseMs: number;
}

/** The collections and pauses in a stretch of JSC's log. */
export function gcUse(log: string): GcUse {
  const use: GcUse = { collections: 0, full: 0, pauseMs: 0, maxPauseMs: 0 };
  for (const m of log.matchAll(/=> (Eden|Full)Collection|\bp=([\d.]+)ms/g)) {
    if (m[1]) {
      use.collections++;
      if (m[1] === "Full") use.full++;
    } else {
      const p = Number(m[2]);
      use.pauseMs += p;
      use.maxPauseMs = Math.max(use.maxPauseMs, p);
    }
  }
  return use;
}

/**
 * Starts counting the collections of the servers that log them (started with GC_LOG); the
 * returned function gives the sum over those servers since, or null when none logs them.
 */
export function gcMeter(servers: Server[]): () => GcUse | null {
  const logged = servers.filter((s) => s.gcLogged);
  const from = logged.map((s) => statSync(s.log).size);
  // Every line stands alone, so the servers' stretches read as one log.
  return () => (logged.length === 0 ? null : gcUse(logged.map((s, i) => readFrom(s.log, from[i])).join("\n")));
}

function readFrom(path: string, offset: number): string {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(Math.max(0, statSync(path).size - offset));
    readSync(fd, buf, 0, buf.length, offset);
    return buf.toString("utf8");
  } finally {
    closeSync(fd);
  }
}
