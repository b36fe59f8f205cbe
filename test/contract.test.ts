import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./harness.ts";

// CONTRACT.md in the repo is the contract; it began as the team's copy beside the repo.
// Issues extend it, so the two may differ — but nothing the first version promised may go:
// every heading, setting, error code, frame type, close code and guarantee it names must
// still be named. A promise dropped from the repo's copy fails here, naming it.
const original = join(ROOT, "..", "shared", "CONTRACT.md");
const current = readFileSync(join(ROOT, "CONTRACT.md"), "utf8");

/** What a contract commits to, as the words a reader would look up. */
function promises(text: string): string[] {
  const headings = [...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.trim());
  const guarantees = [...text.matchAll(/^\d+\. \*\*(.+?)\*\*/gm)].map((m) => m[1]!);
  const named = [...text.matchAll(/`([A-Z][A-Z0-9_]{2,}|[a-z]+_[a-z_]+|GET [^`]+|POST [^`]+|4\d{3}|10\d\d)`/g)].map((m) => m[1]!);
  const codes = [...text.matchAll(/\b(10\d\d|4\d{3})\b/g)].map((m) => m[1]!);
  const frames = [...text.matchAll(/^\| `([a-z]+)` \|/gm)].map((m) => `\`${m[1]}\``);
  return [...new Set([...headings, ...guarantees, ...named, ...codes, ...frames])];
}

describe("CONTRACT.md", () => {
  test.skipIf(!existsSync(original))("keeps every promise of the team's first contract", () => {
    const missing = promises(readFileSync(original, "utf8")).filter((p) => !current.includes(p));
    expect(missing).toEqual([]);
  });

  test("names the limits and behaviours issues added to it", () => {
    for (const p of ["DUPLEX_MAX_TOKEN_TTL", "DUPLEX_TRUSTED_PROXIES", "well-formed Unicode", "DELETE /api/conversations/:id"]) {
      expect(current).toContain(p);
    }
  });

  test("the check finds a dropped promise", () => {
    const weakened = current.replace(/`rate_limited`/g, "`slow_down`");
    expect(promises(current).filter((p) => !weakened.includes(p))).toContain("rate_limited");
  });
});
