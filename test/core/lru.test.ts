import { describe, expect, test } from "bun:test";
import { BoundedMap } from "../../src/core/lru.ts";

describe("BoundedMap", () => {
  test("forgets the least recently set entry once it holds more than its bound", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("c", 3);
    expect([m.get("a"), m.get("b"), m.get("c")]).toEqual([undefined, 2, 3]);
  });

  test("setting a key again makes it the most recent: the other one is forgotten first", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("a", 10).set("c", 3);
    expect([m.get("a"), m.get("b"), m.get("c")]).toEqual([10, undefined, 3]);
  });

  test("a key set twice in a row stays the most recent, and so does one deleted and set again", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2).set("b", 20).set("c", 3);
    expect([m.get("a"), m.get("b"), m.get("c")]).toEqual([undefined, 20, 3]);
    m.delete("c");
    m.set("c", 30).set("d", 4);
    expect([m.get("b"), m.get("c"), m.get("d")]).toEqual([undefined, 30, 4]);
  });

  test("reading does not refresh a key, and a deleted key frees its place", () => {
    const m = new BoundedMap<string, number>(2);
    m.set("a", 1).set("b", 2);
    m.get("a");
    expect(m.delete("b")).toBe(true);
    m.set("c", 3).set("d", 4);
    expect([m.get("a"), m.get("c"), m.get("d"), m.delete("zz")]).toEqual([undefined, 3, 4, false]);
  });
});
