import { describe, expect, test } from "bun:test";
import { Membership, ownedBy, ownerOf } from "../../../src/broker/rabbitmq/ownership.ts";

const SHARDS = 64;
const shards = Array.from({ length: SHARDS }, (_, s) => s);

describe("rendezvous ownership", () => {
  test("gives every shard exactly one owner among the live nodes", () => {
    const nodes = ["a", "b", "c"];
    const owned = nodes.map((n) => ownedBy(n, nodes, SHARDS));
    expect(owned.flat().sort((x, y) => x - y)).toEqual(shards);
    for (const list of owned) expect(list.length).toBeGreaterThan(0);
  });

  test("does not depend on the order nodes are listed in", () => {
    for (const s of shards) expect(ownerOf(s, ["a", "b", "c"])).toBe(ownerOf(s, ["c", "a", "b"])!);
  });

  test("moves only the leaving node's shards when a node leaves", () => {
    const before = shards.map((s) => ownerOf(s, ["a", "b", "c"]));
    const after = shards.map((s) => ownerOf(s, ["a", "c"]));
    for (const s of shards) if (before[s] !== "b") expect(after[s]).toBe(before[s]!);
    expect(after).not.toContain("b");
  });

  test("moves shards only to a joining node", () => {
    const before = shards.map((s) => ownerOf(s, ["a", "b"]));
    const after = shards.map((s) => ownerOf(s, ["a", "b", "c"]));
    for (const s of shards) if (after[s] !== "c") expect(after[s]).toBe(before[s]!);
    expect(after).toContain("c");
  });

  test("spreads shards over similar node ids", () => {
    const nodes = Array.from({ length: 4 }, (_, i) => `node-${i}`);
    for (const n of nodes) expect(ownedBy(n, nodes, SHARDS).length).toBeGreaterThanOrEqual(SHARDS / 4 / 3);
  });

  test("has no owner when no node is live", () => {
    expect(ownerOf(0, [])).toBeUndefined();
  });
});

describe("Membership", () => {
  test("reports a change when a node first announces and when it comes back as a new incarnation", () => {
    const m = new Membership("me", 1000, () => 0);
    expect(m.heard("me", "i1")).toBe(true);
    expect(m.heard("b", "x")).toBe(true);
    expect(m.heard("b", "x")).toBe(false);
    expect(m.heard("b", "y")).toBe(true);
    expect(m.nodes()).toEqual(["b", "me"]);
  });

  test("forgets a node not heard within the TTL, but never itself", () => {
    let now = 0;
    const m = new Membership("me", 1000, () => now);
    m.heard("me", "i1");
    m.heard("b", "x");
    now = 999;
    expect(m.expire()).toBe(false);
    now = 1000;
    expect(m.expire()).toBe(true);
    expect(m.nodes()).toEqual(["me"]);
  });

  test("drops a node that says goodbye, unless the goodbye is from an older incarnation", () => {
    const m = new Membership("me", 1000, () => 0);
    m.heard("me", "i1");
    m.heard("b", "new");
    expect(m.left("b", "old")).toBe(false);
    expect(m.left("me", "i1")).toBe(false);
    expect(m.left("b", "new")).toBe(true);
    expect(m.nodes()).toEqual(["me"]);
  });

  test("keys a shard's owner by node and incarnation", () => {
    const m = new Membership("me", 1000, () => 0);
    m.heard("me", "i1");
    const before = m.owner(0)!;
    expect(before.node).toBe("me");
    m.heard("me", "i2");
    expect(m.owner(0)!.node).toBe("me");
    expect(m.owner(0)!.key).not.toBe(before.key);
  });
});
