/** Reading a run's results: one system's measurement by id, and the formats the report's prose uses. */
import type { Results } from "./report.ts";
import type { LatencyResult } from "./scenarios/latency.ts";
import type { Shape, Step, ThroughputResult } from "./scenarios/throughput.ts";

export const div = (a: number | undefined | null, b: number | undefined | null) => (a != null && b ? a / b : null);
/** False when the ladder's top step passed: the system was never pushed to its limit. */
export const saturated = (t: ThroughputResult | undefined) => !!t && t.steps.some((s) => !s.passed && !s.aimed);
/**
 * The lowest step of `ours` sustained at `factor` times what `theirs` delivered, at a p99 no
 * higher than `tail` times theirs: what "k× the delivered/s at an equal or lower p99" asks.
 * Comparing the p99s of the two highest steps instead would hold ours to its tail at a rate
 * far above k×.
 */
export function stepAtTheirP99(ours: ThroughputResult | undefined, theirs: Step | null | undefined, factor: number, tail = 1): Step | undefined {
  if (!ours || !theirs) return undefined;
  return ours.steps
    .filter((s) => s.passed && s.deliveredPerSec >= factor * theirs.deliveredPerSec && s.e2e.p99 <= tail * theirs.e2e.p99)
    .sort((a, b) => a.rate - b.rate)[0];
}
/** "; 3.4× at 17,086 sends/s, p99 120.1 ms": the step that met a target at their p99, for its measured column. */
export const atTheirP99 = (step: Step | undefined, theirs: Step | null | undefined) =>
  step && theirs ? `; ${x(step.deliveredPerSec / theirs.deliveredPerSec)} at ${n(step.rate)} sends/s${step.aimed ? " (a step run at that ratio)" : ""}, p99 ${step.e2e.p99.toFixed(1)} ms` : "";

/**
 * Every target of the form "k× their delivered/s at a p99 up to `tail`× theirs" that the
 * verdicts decide with stepAtTheirP99, as [ours, theirs, shape, k, tail].
 */
export const RATIO_TARGETS: readonly (readonly [string, string, Shape, number, number])[] = [
  ["duplex-bun", "socketio", "group", 3, 1],
  ["duplex-bun", "socketio", "convs", 3, 1],
  ["duplex-bun", "socketio", "convs", 3, 2],
  ["duplex-cluster", "socketio-cluster", "group", 3, 1],
  ["duplex-cluster", "socketio-cluster", "group", 2, 1],
  ["duplex-cluster", "socketio-cluster", "convs", 3, 1],
];

/** stepAtTheirP99 for a target of RATIO_TARGETS, which must list it, so that aimedRates aims at it too. */
export function targetStep(r: Results, ours: string, shape: Shape, k: number, tail = 1): Step | undefined {
  const target = RATIO_TARGETS.find(([o, , s, kk, tt]) => o === ours && s === shape && kk === k && tt === tail);
  if (!target) throw new Error(`RATIO_TARGETS lists no target of ${ours} (${shape}) at ${k}× at ${tail}× their p99`);
  return stepAtTheirP99(bestOf(r, ours, shape), bestOf(r, target[1], shape)?.best, k, tail);
}

/**
 * The rates at which `id` should run one more step in `shape`, each exactly at a ratio
 * target's k× (rounded up, and half a percent over, so that a step delivering 99.5% of
 * what was sent still reaches k×). Only where the ladder left the target open: no step
 * decides it yet, and `id` sustained k× at some higher step, so a step at k× can pass.
 * With `standsFor`, `id` is a floor run at the targets of that system which it left open
 * after its own aimed steps: whether any server on this runtime meets them here.
 */
export function aimedRates(r: Results, id: string, shape: Shape, standsFor = id): number[] {
  const ours = bestOf(r, id, shape);
  const rates = new Set<number>();
  for (const [o, peer, s, k, tail] of RATIO_TARGETS) {
    const theirs = bestOf(r, peer, shape)?.best;
    if (o !== standsFor || s !== shape || !ours?.best || !theirs || stepAtTheirP99(ours, theirs, k, tail)) continue;
    if (standsFor !== id && stepAtTheirP99(bestOf(r, standsFor, shape), theirs, k, tail)) continue;
    const need = k * theirs.deliveredPerSec;
    const rate = Math.ceil((need * 1.005) / ours.fanout);
    if (ours.best.deliveredPerSec >= need && rate <= ours.best.rate && !ours.steps.some((st) => st.rate === rate)) rates.add(rate);
  }
  return [...rates].sort((a, b) => a - b);
}
/** The lowest step above the result that was not sustained: what the system fell short of. */
export const firstFailed = (t: ThroughputResult) =>
  t.steps.filter((s) => !s.passed && !s.aimed && s.rate > (t.best?.rate ?? 0)).sort((a, b) => a.rate - b.rate)[0];

/** One round of the measurements a run repeats: the run's own tables are round 1. */
export type Round = Pick<Results, "idle" | "latency">;

export function idleOf(r: Round, id: string) {
  return r.idle.find((i) => i.id === id);
}
/** What one more idle connection costs (bench/scenarios/idle.ts, the marginal figure). */
export function perConn(r: Round, id: string): number | undefined {
  return idleOf(r, id)?.marginalBytesPerConn;
}
export function bestOf(r: Results, id: string, shape: Shape): ThroughputResult | undefined {
  return r.throughput.find((t) => t.id === id && t.shape === shape);
}
export function latencyOf(r: Round, id: string, rate: number): LatencyResult | undefined {
  return r.latency.find((l) => l.id === id && l.rate === rate);
}

/** The rate of the latency step the rounds repeat (the targets name it). */
export const TAIL_RATE = 5000;

/**
 * A figure taken in each round — a ratio pairs two systems measured minutes apart, not a
 * run apart — and its median over the rounds that measured it; `each` keeps a round that
 * did not as null, so its place still names its round.
 */
export interface Repeated {
  each: (number | null)[];
  median: number;
}

export function repeated(r: Results, figure: (round: Round) => number | null): Repeated | null {
  const each = [r, ...(r.rounds ?? [])].map(figure);
  const sorted = each.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return { each, median: sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2 };
}

/** "0.52×, the median of 3 rounds (0.57×, 0.49×, 0.52×)", or the one figure of a run that measured it once. */
export const xs = (v: Repeated | null, format: (v: number) => string = x) =>
  v === null ? "n/a" : v.each.length === 1 ? format(v.median) : `${format(v.median)}, the median of ${v.each.length} rounds (${v.each.map((e) => (e === null ? "–" : format(e))).join(", ")})`;

export const kib = (bytes: number | undefined) => (bytes === undefined ? "n/a" : (bytes / 1024).toFixed(1));
export const x = (v: number | null) => (v === null ? "n/a" : `${v.toFixed(2)}×`);
export const n = (v: number) => Math.round(v).toLocaleString("en-US");
export const ms = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(1)} ms`);
export const ms2 = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(2)} ms`);
export const cores = (v: number | null | undefined) => (v == null ? "–" : v.toFixed(2));
/** A step's server CPU per send. */
export const perSend = (step: { serverCores: number; rate: number }) => `${((step.serverCores / step.rate) * 1e6).toFixed(1)} µs of server CPU a send`;
