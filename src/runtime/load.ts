/** Picks the runtime module for the runtime this process runs on. */
import type { RuntimeModule } from "./runtime.ts";

export function load(): Promise<RuntimeModule> {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun) return import("./bun.ts");
  if (g.Deno) return import("./deno.ts");
  return import("./node.ts");
}
