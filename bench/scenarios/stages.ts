/**
 * Where the time of one message goes on a duplex cluster: the nodes' stage histograms
 * (duplex_pipeline_stage_seconds, src/core/stages.ts) read from /metrics before and after
 * a measured step, summed over the nodes, and their p50 and p99 estimated the way
 * Prometheus's histogram_quantile does (linear within a bucket).
 */
import { STAGES } from "../../src/core/stages.ts";
import type { Target } from "../systems/targets.ts";

/** stage → bucket upper bound (s) → cumulative count, summed over nodes. */
export type StageBuckets = Map<string, Map<number, number>>;

export interface StageRow {
  stage: string;
  count: number;
  /** ms; null when nothing was observed. */
  p50: number | null;
  p99: number | null;
}

const BUCKET = /^duplex_pipeline_stage_seconds_bucket\{([^}]*)\} (\S+)$/;
const label = (labels: string, name: string) => labels.match(new RegExp(`(?:^|,)${name}="([^"]*)"`))?.[1];

export async function scrapeStages(t: Target): Promise<StageBuckets> {
  const out: StageBuckets = new Map();
  const texts = await Promise.all(t.nodes.map(async (n) => (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text()));
  for (const line of texts.join("\n").split("\n")) {
    const m = line.match(BUCKET);
    if (!m) continue;
    const stage = label(m[1], "stage");
    const le = label(m[1], "le");
    if (!stage || !le) continue;
    const bound = le === "+Inf" ? Infinity : Number(le);
    const buckets = out.get(stage) ?? new Map<number, number>();
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
    out.set(stage, buckets);
  }
  return out;
}

/** Each stage's observations between two scrapes, in pipeline order. */
export function stageRows(before: StageBuckets, after: StageBuckets): StageRow[] {
  return STAGES.map((stage) => {
    const a = after.get(stage) ?? new Map<number, number>();
    const b = before.get(stage) ?? new Map<number, number>();
    const bounds = [...a.keys()].sort((x, y) => x - y);
    const counts = bounds.map((le) => (a.get(le) ?? 0) - (b.get(le) ?? 0));
    const count = counts.at(-1) ?? 0;
    return { stage, count, p50: quantile(0.5, bounds, counts), p99: quantile(0.99, bounds, counts) };
  });
}

function quantile(q: number, bounds: number[], cumulative: number[]): number | null {
  const total = cumulative.at(-1) ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  const i = cumulative.findIndex((c) => c >= rank);
  const upper = bounds[i];
  const lower = i > 0 ? bounds[i - 1] : 0;
  // Past the last finite bound all that can be said is "more than" it.
  if (upper === Infinity) return lower * 1000;
  const below = i > 0 ? cumulative[i - 1] : 0;
  const within = cumulative[i] - below;
  return (lower + (upper - lower) * (within > 0 ? (rank - below) / within : 1)) * 1000;
}
