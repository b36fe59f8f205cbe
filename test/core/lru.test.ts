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
    expect(m.get("a")).toBe(1);
    m.set("d", 4).set("e", 5);
    expect([m.get("a"), m.get("b"), m.get("c")]).toEqual([undefined, undefined, undefined]);
    const n = new BoundedMap<string, number>(2);
    n.set("a", 1).set("b", 2).set("c", 3);
    n.get("a");
    n.set("d", 4);
    expect([n.get("a"), n.get("b"), n.get("d")]).toEqual([1, undefined, 4]);
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
  });

  test("against an exact LRU over random use: every key among the bound most recently used is there with its last value, nothing older than twice the bound is", () => {
    // xorshift32: the same sequence every run.
    let seed = 2463534242;
    const random = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
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
      } else if (op < 9) {
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
      for (const recent of order.slice(-max)) expect(m.get(recent)).toBe(last.get(recent) as number);
      // The check's own reads were uses too: the order is now oldest-first among them.
      for (const stale of order.slice(0, -2 * max)) expect(m.get(stale)).toBeUndefined();
    }
  });
});
