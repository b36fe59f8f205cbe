/** Reading a run's results: one system's measurement by id, and the formats the report's prose uses. */
import type { Results } from "./report.ts";
import type { LatencyResult } from "./scenarios/latency.ts";
import type { Shape, ThroughputResult } from "./scenarios/throughput.ts";

export const div = (a: number | undefined | null, b: number | undefined | null) => (a != null && b ? a / b : null);
/** False when the ladder's top step passed: the system was never pushed to its limit. */
export const saturated = (t: ThroughputResult | undefined) => !!t && t.steps.some((s) => !s.passed);

export function idleOf(r: Results, id: string) {
  return r.idle.find((i) => i.id === id);
}
export function bestOf(r: Results, id: string, shape: Shape): ThroughputResult | undefined {
  return r.throughput.find((t) => t.id === id && t.shape === shape);
}
export function latencyOf(r: Results, id: string, rate: number): LatencyResult | undefined {
  return r.latency.find((l) => l.id === id && l.rate === rate);
}

export const kib = (bytes: number | undefined) => (bytes === undefined ? "n/a" : (bytes / 1024).toFixed(1));
export const x = (v: number | null) => (v === null ? "n/a" : `${v.toFixed(2)}×`);
export const n = (v: number) => Math.round(v).toLocaleString("en-US");
export const ms = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(1)} ms`);
export const ms2 = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(2)} ms`);
export const cores = (v: number | null | undefined) => (v == null ? "–" : v.toFixed(2));
/** A step's server CPU per send. */
export const perSend = (step: { serverCores: number; rate: number }) => `${((step.serverCores / step.rate) * 1e6).toFixed(1)} µs of server CPU a send`;
