/** A full run's results, frozen (the run of 2026-12-04 that wrote docs/benchmarks.md then), for the report's tests. */
import { readFileSync } from "node:fs";
import type { Results } from "../../bench/report.ts";

export const savedResults = () => JSON.parse(readFileSync(new URL("./fixtures/results-2026-12-04.json", import.meta.url), "utf8")) as Results;
