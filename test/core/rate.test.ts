import { expect, test } from "bun:test";
import { RateLimiter } from "../../src/core/rate.ts";

test("allows a burst of 5x the rate, refuses past it, and recovers at the rate", () => {
  const r = new RateLimiter(10, 0);
  for (let i = 0; i < 50; i++) expect(r.take(0)).toBe("ok");
  expect(r.take(0)).toBe("limited");
  // 1 s later 10 tokens came back, minus the one refused frame's debt.
  for (let i = 0; i < 9; i++) expect(r.take(1000)).toBe("ok");
  expect(r.take(1000)).toBe("limited");
});

test("calls it abuse once refused frames sink the bucket below minus the burst", () => {
  const r = new RateLimiter(10, 0);
  const verdicts = Array.from({ length: 101 }, () => r.take(0));
  expect(verdicts.slice(0, 50).every((v) => v === "ok")).toBe(true);
  expect(verdicts.slice(50, 100).every((v) => v === "limited")).toBe(true);
  expect(verdicts[100]).toBe("abuse");
});
