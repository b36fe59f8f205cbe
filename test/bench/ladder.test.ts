import { describe, expect, test } from "bun:test";
import { highestSustained, refinedRates, type Step } from "../../bench/scenarios/throughput.ts";

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
