import { describe, expect, test } from "bun:test";
import { stepAtTheirP99 } from "../../bench/lookup.ts";
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
