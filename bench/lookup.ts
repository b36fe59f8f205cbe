/** Reading a run's results: one system's measurement by id, and the formats the report's prose uses. */
import type { Results } from "./report.ts";
import type { LatencyResult } from "./scenarios/latency.ts";
import type { Shape, ThroughputResult } from "./scenarios/throughput.ts";

export const div = (a: number | undefined | null, b: number | undefined | null) => (a != null && b ? a / b : null);
/** False when the ladder's top step passed: the system was never pushed to its limit. */
export const saturated = (t: ThroughputResult | undefined) => !!t && t.steps.some((s) => !s.passed);

/** One round of the measurements a run repeats: the run's own tables are round 1. */
export type Round = Pick<Results, "idle" | "latency">;

export function idleOf(r: Round, id: string) {
  return r.idle.find((i) => i.id === id);
}
export function bestOf(r: Results, id: string, shape: Shape): ThroughputResult | undefined {
  return r.throughput.find((t) => t.id === id && t.shape === shape);
}
export function latencyOf(r: Round, id: string, rate: number): LatencyResult | undefined {
  return r.latency.find((l) => l.id === id && l.rate === rate);
}

/** A ratio taken within each round (the two systems measured minutes apart, not a run apart), and its median. */
export interface Repeated {
  each: number[];
  median: number;
}

export function repeated(r: Results, ratio: (round: Round) => number | null): Repeated | null {
  const each = [r, ...(r.rounds ?? [])].map(ratio).filter((v): v is number => v !== null);
  if (each.length === 0) return null;
  const sorted = [...each].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return { each, median: sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2 };
}

/** "0.52×, the median of 3 rounds (0.57×, 0.49×, 0.52×)", or the one ratio of a run that measured it once. */
export const xs = (v: Repeated | null) =>
  v === null ? "n/a" : v.each.length === 1 ? x(v.median) : `${x(v.median)}, the median of ${v.each.length} rounds (${v.each.map(x).join(", ")})`;

export const kib = (bytes: number | undefined) => (bytes === undefined ? "n/a" : (bytes / 1024).toFixed(1));
export const x = (v: number | null) => (v === null ? "n/a" : `${v.toFixed(2)}×`);
export const n = (v: number) => Math.round(v).toLocaleString("en-US");
export const ms = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(1)} ms`);
export const ms2 = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(2)} ms`);
export const cores = (v: number | null | undefined) => (v == null ? "–" : v.toFixed(2));
/** A step's server CPU per send. */
export const perSend = (step: { serverCores: number; rate: number }) => `${((step.serverCores / step.rate) * 1e6).toFixed(1)} µs of server CPU a send`;
