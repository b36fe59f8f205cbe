import { describe, expect, test } from "bun:test";
import { backoffDelay, DEFAULT_BACKOFF } from "../../src/client/index.ts";

describe("backoffDelay", () => {
  const policy = { baseMs: 100, capMs: 1000, factor: 2 };

  test("draws uniformly from zero to base * factor^attempt", () => {
    expect([0, 1, 2, 3].map((a) => backoffDelay(policy, a, () => 0.5))).toEqual([50, 100, 200, 400]);
    expect(backoffDelay(policy, 2, () => 0)).toBe(0);
    expect(backoffDelay(policy, 2, () => 0.9999)).toBe(399);
  });

  test("never exceeds the cap, however many attempts failed", () => {
    for (const attempt of [4, 10, 100, 5000]) expect(backoffDelay(policy, attempt, () => 0.9999)).toBeLessThan(1000);
    expect(backoffDelay(policy, 5000, () => 0.5)).toBe(500);
  });

  test("the default policy starts within half a second and caps at thirty", () => {
    expect(backoffDelay(DEFAULT_BACKOFF, 0, () => 0.9999)).toBeLessThan(500);
    expect(backoffDelay(DEFAULT_BACKOFF, 40, () => 0.9999)).toBe(29_997);
  });
});
