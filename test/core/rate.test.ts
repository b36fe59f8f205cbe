import { expect, test } from "bun:test";
import { type Bucket, RateLimit } from "../../src/core/rate.ts";

/** A full bucket at time 0 and its verdicts under a limit of `rate`. */
function bucket(rate: number) {
  const limit = new RateLimit(rate);
  const b: Bucket = { tokens: limit.burst, countedAt: 0 };
  return { take: (now: number) => limit.take(b, now) };
}

test("allows a burst of 5x the rate, refuses past it, and recovers at the rate", () => {
  const r = bucket(10);
  for (let i = 0; i < 50; i++) expect(r.take(0)).toBe("ok");
  expect(r.take(0)).toBe("limited");
  // 1 s later 10 tokens came back, minus the one refused frame's debt.
  for (let i = 0; i < 9; i++) expect(r.take(1000)).toBe("ok");
  expect(r.take(1000)).toBe("limited");
});

test("calls it abuse once refused frames sink the bucket below minus the burst", () => {
  const r = bucket(10);
  const verdicts = Array.from({ length: 101 }, () => r.take(0));
  expect(verdicts.slice(0, 50).every((v) => v === "ok")).toBe(true);
  expect(verdicts.slice(50, 100).every((v) => v === "limited")).toBe(true);
  expect(verdicts[100]).toBe("abuse");
});
