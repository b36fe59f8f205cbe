import { describe, expect, test } from "bun:test";
import { BoundedMap } from "../../src/core/lru.ts";

describe("BoundedMap", () => {
  test("keeps its bound's worth of the most recently set keys, and forgets older ones", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("c", 3).set("d", 4);
    expect([m.get("a"), m.get("b"), m.get("c"), m.get("d")]).toEqual([undefined, undefined, 3, 4]);
  });

  test("reading a key keeps it among the recent: the key not used is forgotten first", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("c", 3);
    m.get("a");
    m.set("d", 4);
    expect([m.get("a"), m.get("b"), m.get("d")]).toEqual([1, undefined, 4]);
  });

  test("setting a key again replaces its value, in whichever generation it was", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("a", 10);
    expect(m.get("a")).toBe(10);
    m.set("c", 3).set("a", 100);
    expect([m.get("a"), m.get("c")]).toEqual([100, 3]);
  });

  test("a deleted key is gone from both generations, and delete says whether it was there", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("a", 10);
    expect(m.delete("a")).toBe(true);
    expect(m.get("a")).toBeUndefined();
    expect([m.delete("a"), m.delete("zz")]).toEqual([false, false]);
    // "b" is in the old generation only now.
    expect(m.delete("b")).toBe(true);
    expect(m.get("b")).toBeUndefined();
  });

  for (const seed of [2463534242, 88172645, 1, 123456789, 987654321]) {
    test(`against an exact LRU over random use (seed ${seed}): every key among the bound's most recent uses is there with its last value, and it never holds twice the bound`, () => {
      // xorshift32: the same sequence every run.
      let state = seed;
      const random = (n: number) => {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        return (state >>> 0) % n;
      };
      const max = 16;
      const m = new BoundedMap<number, number>(max);
      const last = new Map<number, number>();
      const order: number[] = [];
      const used = (key: number) => {
        const i = order.indexOf(key);
        if (i >= 0) order.splice(i, 1);
        order.push(key);
      };
      for (let step = 0; step < 5_000; step++) {
        const key = random(80);
        const op = random(10);
        if (op < 5) {
          m.set(key, step);
          last.set(key, step);
          used(key);
        } else if (op < 8) {
          const value = m.get(key);
          if (value !== undefined) {
            expect(value).toBe(last.get(key)!);
            used(key);
          }
        } else {
          // A delete is a use as far as the bound goes: the key's place among the recent stays taken.
          m.delete(key);
          last.delete(key);
          used(key);
        }
        // Reading the most recent keys oldest first leaves their order as it was.
        for (const recent of order.slice(-max)) expect(m.get(recent)).toBe(last.get(recent) as number);
        expect(m.size).toBeLessThan(2 * max);
      }
    });
  }
});
