import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./harness.ts";

// The repo carries the contract for its readers; the team's copy beside it is the source.
const source = join(ROOT, "..", "shared", "CONTRACT.md");

test.skipIf(!existsSync(source))("CONTRACT.md is the team's current contract", () => {
  expect(readFileSync(join(ROOT, "CONTRACT.md"), "utf8")).toBe(readFileSync(source, "utf8"));
});
