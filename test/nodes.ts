/**
 * Starting duplex nodes, as the tests (harness.ts) and the benchmarks (bench/systems/) both
 * do: the command per runtime (CONTRACT §1), the log line that says a node listens, and
 * the wait until /healthz says it is ready. Each side keeps its own process bookkeeping:
 * the tests read a node's output from a pipe, the bench from a log file.
 */
import { resolve } from "node:path";

export type RuntimeName = "bun" | "deno" | "node";
export const RUNTIMES: RuntimeName[] = ["bun", "deno", "node"];
export const ROOT = resolve(import.meta.dir, "..");
export const BIN = resolve(ROOT, "node_modules/.bin");

/** How a node is started on each runtime, from ROOT. */
export const NODE_COMMANDS: Record<RuntimeName, string[]> = {
  bun: [`${BIN}/bun`, "run", "src/main.ts"],
  deno: [`${BIN}/deno`, "run", "-A", "src/main.ts"],
  node: [`${BIN}/tsx`, "src/main.ts"],
};

/** Node with tsx's loader but without its wrapper process, so that a measured pid is the server's. */
export const NODE_UNWRAPPED = ["node", "--import", "tsx", "src/main.ts"];

/** The port in a node's `"msg":"listening"` log line; undefined until the line is there. */
export function listeningPort(log: string): number | undefined {
  const m = log.match(/"msg":"listening","url":"http:\/\/[^:]+:(\d+)"/);
  return m ? Number(m[1]) : undefined;
}

/**
 * Resolves once the node on `port` answers /healthz with 200 (its store and broker are
 * connected); rejects when `exited()` names an exit code first, or after `timeoutMs`.
 * `context()` is appended to the error, for the node's output.
 */
export async function untilReady(port: number, o: { timeoutMs: number; exited?: () => number | null | undefined; context?: () => string }): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  const fail = (what: string) => new Error(`${what}${o.context ? `:\n${o.context()}` : ""}`);
  while ((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status !== 200) {
    const code = o.exited?.();
    if (code !== undefined) throw fail(`the node on port ${port} exited with ${code} before it was ready`);
    if (Date.now() > deadline) throw fail(`the node on port ${port} was not ready within ${o.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
