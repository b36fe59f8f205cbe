import { describe, expect, test } from "bun:test";
import { hotFunctions } from "../../bench/scenarios/profile.ts";
import { ROOT } from "../../bench/systems/spawn.ts";

// The parts of Bun's `--cpu-prof-md` output that hotFunctions reads (Bun 1.4).
const PROFILE = `# CPU Profile

| Duration | Samples | Interval | Functions |
|----------|---------|----------|----------|
| 15.85s | 200 | 1.0ms | 3 |

## Hot Functions (Self Time)

| Self% | Self | Total% | Total | Function | Location |
|------:|-----:|-------:|------:|----------|----------|
| 40.0% | 9.50s | 40.0% | 9.50s | \`filter\` | \`[native code]\` |

## Function Details

### \`writeBuffered\`
\`[native code]\` | Self: 16.5% (2.62s) | Total: 16.5% (2.62s) | Samples: 50

**Called by:**
- \`_write\` (50)

### \`filter\`
\`[native code]\` | Self: 40.0% (9.50s) | Total: 40.0% (9.50s) | Samples: 1

### \`get\`
\`${ROOT}/src/core/lru.ts:13\` | Self: 0.9% (152.0ms) | Total: 0.9% (152.0ms) | Samples: 10
`;

describe("hotFunctions, Bun's markdown CPU profile", () => {
  test("ranks functions by self samples, not by the time a delayed sample was weighed with", () => {
    expect(hotFunctions(PROFILE)).toEqual([
      { fn: "writeBuffered", where: "native", selfPct: 25 },
      { fn: "get", where: "src/core/lru.ts:13", selfPct: 5 },
      { fn: "filter", where: "native", selfPct: 0.5 },
    ]);
  });

  test("a profile it cannot read is an error, not an empty profile", () => {
    expect(() => hotFunctions("# CPU Profile\n")).toThrow("sample count");
    expect(() => hotFunctions(PROFILE.split("## Function Details")[0])).toThrow("function details");
  });
});
