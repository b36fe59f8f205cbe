/**
 * Where one Bun node's time goes on the per-send path: a node started under Bun's CPU
 * profiler holds the conversations shape's sockets and takes one long step at the rate the
 * unprofiled node sustained; the profile's top entries by self time go into the report,
 * beside the target the per-send path decides. The profile covers the node's whole life,
 * so the step is long enough to outweigh opening the sockets.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ROOT } from "../systems/spawn.ts";
import type { Target } from "../systems/targets.ts";
import type { Ctx } from "./common.ts";
import { throughput } from "./throughput.ts";

export interface ProfileEntry {
  fn: string;
  /** Source file and line, relative to the repository; "native" for the runtime's own code. */
  where: string;
  selfPct: number;
}

export interface ProfileResult {
  /** Offered sends per second during the profiled step. */
  rate: number;
  stepMs: number;
  /** Whether the profiled node sustained that rate (the profiler costs it some); absent in older results. */
  sustained?: boolean;
  top: ProfileEntry[];
}

const TOP = 12;
const STEP_MS = 15_000;

export async function profile(ctx: Ctx, make: (dir: string) => Promise<Target>, rate: number): Promise<ProfileResult> {
  const dir = mkdtempSync(join(tmpdir(), "duplex-profile-"));
  try {
    const t = await make(dir);
    let sustained: boolean;
    try {
      const ladder = { start: rate, factor: 1, steps: 1, stepMs: STEP_MS };
      sustained = (await throughput({ ...ctx, plan: { ...ctx.plan, convs: { ...ctx.plan.convs, ladder } } }, t, "convs")).best !== null;
    } finally {
      await t.stop();
    }
    const file = readdirSync(dir).find((f) => f.endsWith(".md"));
    if (!file) throw new Error("the profiled node wrote no profile");
    return { rate, stepMs: STEP_MS, sustained, top: hotFunctions(readFileSync(join(dir, file), "utf8")).slice(0, TOP) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The functions of Bun's `--cpu-prof-md` output by self samples, as shares of all samples.
 * Counted in samples rather than the time Bun weighs them with: a sample taken after the
 * sampler was kept waiting (at shutdown, say) carries that whole wait.
 */
export function hotFunctions(md: string): ProfileEntry[] {
  const total = Number(md.match(/^\| [\d.]+m?s \| (\d+) \|/m)?.[1]);
  if (!total) throw new Error("a profile without a sample count");
  const out: ProfileEntry[] = [];
  for (const m of md.matchAll(/^### `(.+)`\n`(.+?)` \| Self: [^|]+\| Total: [^|]+\| Samples: (\d+)$/gm)) {
    const [, fn, location, samples] = m;
    const where = location.startsWith("/") ? relative(ROOT, location) : location === "[native code]" ? "native" : location;
    out.push({ fn, where, selfPct: (100 * Number(samples)) / total });
  }
  // A format of Bun's own that this no longer reads must not pass for an empty profile.
  if (out.length === 0) throw new Error("a profile without function details");
  return out.sort((a, b) => b.selfPct - a.selfPct);
}
