import { describe, expect, test } from "bun:test";
import { aimedRates, atTheirP99, firstFailed, saturated, stepAtTheirP99, targetStep } from "../../bench/lookup.ts";
import type { Results } from "../../bench/report.ts";
import { highestSustained, refinedRates, type Step, type ThroughputResult } from "../../bench/scenarios/throughput.ts";

const ladder = { start: 1000, factor: 1.5, steps: 6, refine: 2, stepMs: 5000 };
const step = (rate: number, passed: boolean) => ({ rate, passed }) as Step;

describe("the throughput ladder's finer steps", () => {
  test("split the gap between the last step sustained and the first not evenly by ratio", () => {
    // Steps 1000, 1500, 2250 passed; 3375 (index 3) did not.
    expect(refinedRates(ladder, 3)).toEqual([2576, 2948]);
    expect(refinedRates({ ...ladder, refine: 1 }, 3)).toEqual([2756]);
  });

  test("are not tried when the first step failed, when the top step passed, or when none are asked for", () => {
    expect(refinedRates(ladder, 0)).toEqual([]);
    expect(refinedRates(ladder, ladder.steps)).toEqual([]);
    expect(refinedRates({ ...ladder, refine: 0 }, 3)).toEqual([]);
  });

  test("the result is the highest rate sustained, whatever order the steps ran in", () => {
    const steps = [step(1000, true), step(1500, true), step(2250, false), step(1717, true), step(1966, false)];
    expect(highestSustained(steps)?.rate).toBe(1717);
    expect(highestSustained([step(1000, false)])).toBeNull();
  });
});

describe("k× another system's delivered/s at a p99 no higher than its", () => {
  const at = (rate: number, deliveredPerSec: number, p99: number, passed = true) => ({ rate, deliveredPerSec, passed, e2e: { p99 } }) as Step;
  const ours = { steps: [at(100, 19_900, 10), at(150, 29_850, 20), at(225, 44_775, 400), at(338, 67_262, 900, false)] } as ThroughputResult;
  const theirs = at(50, 9_950, 30);

  test("is the lowest sustained step at k× whose p99 is no higher, not the highest step", () => {
    expect(stepAtTheirP99(ours, theirs, 3)?.rate).toBe(150);
    expect(stepAtTheirP99(ours, theirs, 4)).toBeUndefined();
    // Twice their p99 allowed (issue 16's conversations target).
    expect(stepAtTheirP99(ours, theirs, 4, 20)?.rate).toBe(225);
  });

  test("a step that was not sustained never counts, whatever it delivered", () => {
    expect(stepAtTheirP99(ours, theirs, 6, 100)).toBeUndefined();
  });
});

describe("a step aimed at a ratio target", () => {
  const at = (rate: number, deliveredPerSec: number, p99: number, passed = true) => ({ rate, deliveredPerSec, passed, e2e: { p99 } }) as Step;
  const run = (id: string, steps: Step[], best: Step | null) => ({ id, shape: "group", fanout: 199, steps, best }) as ThroughputResult;
  const theirs = at(50, 9_950, 30);
  const results = (ours: Step[]) => ({
    throughput: [run("duplex-bun", ours, highestSustained(ours)), run("socketio", [theirs, at(75, 10_000, 900, false)], theirs)],
  }) as unknown as Results;

  test("runs at exactly k× their delivered/s when no step of the ladder decides the target", () => {
    // 150 sends/s × 199 = 3× theirs; the ladder's steps at and over it had a higher p99.
    const ours = [at(100, 19_900, 10), at(160, 31_840, 45), at(240, 47_760, 900, false)];
    expect(aimedRates(results(ours), "duplex-bun", "group")).toEqual([151]);
  });

  test("is not run when a step already decides it, when ours never reached k×, or for another system", () => {
    expect(aimedRates(results([at(100, 19_900, 10), at(150, 29_850, 20)]), "duplex-bun", "group")).toEqual([]);
    expect(aimedRates(results([at(100, 19_900, 10), at(140, 27_860, 20), at(210, 41_790, 900, false)]), "duplex-bun", "group")).toEqual([]);
    expect(aimedRates(results([at(100, 19_900, 10), at(160, 31_840, 45)]), "duplex-cluster", "group")).toEqual([]);
  });

  test("a floor standing for duplex is aimed only at the targets duplex still misses and the floor's ladder left open", () => {
    const floorRun = (steps: Step[]) => ({ id: "bare", shape: "group", fanout: 199, steps, best: highestSustained(steps) }) as ThroughputResult;
    const missed = results([at(100, 19_900, 10), at(160, 31_840, 45), at(240, 47_760, 900, false)]);
    missed.throughput.push(floorRun([at(100, 19_900, 8), at(160, 31_840, 40), at(240, 47_760, 900, false)]));
    expect(aimedRates(missed, "bare", "group", "duplex-bun")).toEqual([151]);
    // Without standing for duplex the floor has no targets of its own.
    expect(aimedRates(missed, "bare", "group")).toEqual([]);
    const met = results([at(100, 19_900, 10), at(150, 29_850, 20)]);
    met.throughput.push(floorRun([at(100, 19_900, 8), at(160, 31_840, 40), at(240, 47_760, 900, false)]));
    expect(aimedRates(met, "bare", "group", "duplex-bun")).toEqual([]);
    const floorDecides = results([at(100, 19_900, 10), at(160, 31_840, 45), at(240, 47_760, 900, false)]);
    floorDecides.throughput.push(floorRun([at(100, 19_900, 8), at(150, 29_850, 25)]));
    expect(aimedRates(floorDecides, "bare", "group", "duplex-bun")).toEqual([]);
  });

  test("a verdict may read only a target that RATIO_TARGETS lists, so that every one it reads can be aimed at", () => {
    const r = results([at(100, 19_900, 10), at(150, 29_850, 20)]);
    expect(targetStep(r, "duplex-bun", "group", 3)?.rate).toBe(150);
    expect(() => targetStep(r, "duplex-bun", "group", 4)).toThrow("RATIO_TARGETS lists no target of duplex-bun (group) at 4× at 1× their p99");
  });

  test("decides the target when it passes at their p99, and its failure does not make the ladder's top step a limit", () => {
    const ladder = [at(100, 19_900, 10), at(160, 31_840, 45)];
    const passed = { ...at(151, 30_049, 25), aimed: true } as Step;
    const withAimed = run("duplex-bun", [...ladder, passed], highestSustained(ladder));
    expect(stepAtTheirP99(withAimed, theirs, 3)?.rate).toBe(151);
    expect(atTheirP99(stepAtTheirP99(withAimed, theirs, 3), theirs)).toContain("at 151 sends/s (a step run at that ratio), p99 25.0 ms");
    const failed = run("duplex-bun", [...ladder, { ...at(151, 30_049, 700, false), aimed: true } as Step], highestSustained(ladder));
    expect(saturated(failed)).toBe(false);
    expect(firstFailed(failed)).toBeUndefined();
  });
});
