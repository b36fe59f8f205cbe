/**
 * Latency histograms (HdrHistogram, microseconds, 3 significant digits). Workers record
 * into their own and ship them encoded; the orchestrator merges them, so percentiles are
 * computed over every sample, never averaged across processes.
 */
import * as hdr from "hdr-histogram-js";

export type Histogram = hdr.Histogram;

/** Percentiles in milliseconds, as reported. */
export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a latency given in milliseconds (fractional). */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.min(120_000_000, Math.max(1, Math.round(ms * 1000))));
}

export const encode = (h: Histogram): string => hdr.encodeIntoCompressedBase64(h);

export function merge(encoded: Iterable<string>): Histogram {
  const total = newHistogram();
  for (const e of encoded) total.add(hdr.decodeFromCompressedBase64(e));
  return total;
}

export function percentiles(h: Histogram): Percentiles {
  const ms = (us: number) => us / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}
