/**
 * The behavioural contract of SessionStore (src/core/ports/store.ts), run against every
 * implementation: `sessionStoreSuite(name, make)` where `make()` returns a fresh, empty
 * store and a way to let time pass for it (a fake clock moves at once; a store on real
 * time, such as Redis, is simply waited for).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { SessionRecord, SessionStore } from "../../src/core/ports/store.ts";

export interface SessionFixture {
  store: SessionStore;
  /** Lets `ms` pass as the store sees time. */
  elapse(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** A TTL that must lapse during a test, the wait that makes sure it has, and one that must not. */
const SHORT = 300;
const PAST_SHORT = 800;
const LONG = 60_000;

let counter = 0;
function record(over: Partial<SessionRecord> = {}): SessionRecord {
  counter++;
  return { session: `s${counter}-${crypto.randomUUID()}`, user: "alice", device: "phone", node: "node-a", connectedAt: 1000 + counter, lastSeen: 1000 + counter, ...over };
}
const bySession = (a: SessionRecord, b: SessionRecord) => a.session.localeCompare(b.session);
const sorted = (rs: SessionRecord[]) => [...rs].sort(bySession);

export function sessionStoreSuite(name: string, make: () => Promise<SessionFixture>): void {
  describe(`${name} session store`, () => {
    let f: SessionFixture;
    let store: SessionStore;
    beforeEach(async () => {
      f = await make();
      store = f.store;
    });
    afterEach(() => f.close());

    test("a new session is registered (null: nothing replaced) and read back by user and by node", async () => {
      const r = record();
      expect(await store.register(r, LONG)).toBeNull();
      expect(await store.byUser("alice")).toEqual([r]);
      expect(await store.byNode("node-a")).toEqual([r]);
    });

    test("unknown users and nodes have no sessions", async () => {
      expect(await store.byUser("nobody")).toEqual([]);
      expect(await store.byNode("no-node")).toEqual([]);
    });

    test("one user's devices are separate sessions, each on its own node", async () => {
      const phone = record({ device: "phone" });
      const laptop = record({ device: "laptop", node: "node-b" });
      await store.register(phone, LONG);
      await store.register(laptop, LONG);
      expect(sorted(await store.byUser("alice"))).toEqual(sorted([phone, laptop]));
      expect(await store.byNode("node-a")).toEqual([phone]);
      expect(await store.byNode("node-b")).toEqual([laptop]);
    });

    test("the same user and device again replaces the old session and returns it, whichever node it was on", async () => {
      const first = record({ node: "node-a" });
      const second = record({ node: "node-b" });
      await store.register(first, LONG);
      expect(await store.register(second, LONG)).toEqual(first);
      expect(await store.byUser("alice")).toEqual([second]);
      expect(await store.byNode("node-a")).toEqual([]);
      expect(await store.byNode("node-b")).toEqual([second]);
    });

    test("registering the same session again replaces nothing", async () => {
      const r = record();
      await store.register(r, LONG);
      expect(await store.register({ ...r, lastSeen: r.lastSeen + 5 }, LONG)).toBeNull();
      expect(await store.byUser("alice")).toEqual([{ ...r, lastSeen: r.lastSeen + 5 }]);
    });

    test("remove deletes a session only while it is still the registered one", async () => {
      const first = record();
      const second = record();
      await store.register(first, LONG);
      await store.register(second, LONG);
      await store.remove(first);
      expect(await store.byUser("alice")).toEqual([second]);
      await store.remove(second);
      expect(await store.byUser("alice")).toEqual([]);
      expect(await store.byNode("node-a")).toEqual([]);
      await store.remove(second);
    });

    test("an expired session is never reported, before any sweep, and replaces nothing", async () => {
      const r = record();
      await store.register(r, SHORT);
      await f.elapse(PAST_SHORT);
      expect(await store.byUser("alice")).toEqual([]);
      expect(await store.byNode("node-a")).toEqual([]);
      expect(await store.register(record(), LONG)).toBeNull();
    });

    test("refresh extends the listed sessions and sets their lastSeen, leaving others to expire", async () => {
      const [a, b, c] = [record({ device: "d1" }), record({ device: "d2" }), record({ device: "d3" })];
      for (const r of [a, b, c]) await store.register(r, SHORT);
      await store.refresh("node-a", [a, b], LONG);
      await f.elapse(PAST_SHORT);
      const live = sorted(await store.byNode("node-a"));
      expect(live.map((r) => r.session)).toEqual(sorted([a, b]).map((r) => r.session));
      for (const r of live) expect(r.lastSeen).toBeGreaterThan(a.lastSeen);
      expect((await store.byUser("alice")).map((r) => r.device).sort()).toEqual(["d1", "d2"]);
    });

    test("refresh leaves alone a session whose device another session has taken", async () => {
      const old = record({ node: "node-a" });
      await store.register(old, LONG);
      const current = record({ node: "node-b" });
      await store.register(current, LONG);
      await store.refresh("node-a", [old], LONG);
      expect(await store.byUser("alice")).toEqual([current]);
      expect(await store.byNode("node-a")).toEqual([]);
    });

    test("refresh writes again a listed session whose record expired (its socket outlived a store outage)", async () => {
      const r = record();
      await store.register(r, SHORT);
      await f.elapse(PAST_SHORT);
      expect(await store.byUser("alice")).toEqual([]);
      await store.refresh("node-a", [r], LONG);
      const [back] = await store.byUser("alice");
      expect(back).toEqual({ ...r, lastSeen: back.lastSeen });
      expect(back.lastSeen).toBeGreaterThan(r.lastSeen);
      expect(await store.byNode("node-a")).toEqual([back]);
      expect(await store.sweep()).toBe(0);
    });

    test("sweep removes expired sessions, each counted once across concurrent sweeps", async () => {
      const keep = record({ device: "d0" });
      await store.register(keep, LONG);
      await store.register(record({ device: "d1" }), SHORT);
      await store.register(record({ device: "d2", node: "node-b" }), SHORT);
      await f.elapse(PAST_SHORT);
      const counts = await Promise.all([store.sweep(), store.sweep()]);
      expect(counts[0] + counts[1]).toBe(2);
      expect(await store.sweep()).toBe(0);
      expect(await store.byUser("alice")).toEqual([keep]);
    });

    test("sweep removes every session of a node whose liveness lapsed, however long their own TTL", async () => {
      const onA = [record({ device: "d1" }), record({ user: "bob" })];
      const onB = record({ device: "d2", node: "node-b" });
      for (const r of onA) await store.register(r, LONG);
      await store.register(onB, LONG);
      await store.refresh("node-a", onA, LONG);
      await store.refresh("node-a", [], SHORT);
      await f.elapse(PAST_SHORT);
      expect(await store.sweep()).toBe(2);
      expect(await store.byNode("node-a")).toEqual([]);
      expect(await store.byUser("bob")).toEqual([]);
      expect(await store.byUser("alice")).toEqual([onB]);
    });

    test("registering vouches for the node: without any refresh, its sessions live out their TTL", async () => {
      const short = record({ device: "d1" });
      const long = record({ device: "d2" });
      await store.register(short, SHORT);
      await store.register(long, LONG);
      await f.elapse(PAST_SHORT);
      expect(await store.sweep()).toBe(1);
      expect(await store.byNode("node-a")).toEqual([long]);
    });

    test("a node that keeps refreshing keeps its sessions through sweeps", async () => {
      const r = record();
      await store.register(r, SHORT);
      await store.refresh("node-a", [r], LONG);
      await f.elapse(PAST_SHORT);
      expect(await store.sweep()).toBe(0);
      expect((await store.byUser("alice")).map((s) => s.session)).toEqual([r.session]);
    });

    test("a node swept as dead gets its sessions back with its next refresh", async () => {
      const r = record();
      await store.register(r, LONG);
      await store.refresh("node-a", [], SHORT);
      await f.elapse(PAST_SHORT);
      expect(await store.sweep()).toBe(1);
      await store.refresh("node-a", [r], LONG);
      const again = record({ device: "laptop" });
      expect(await store.register(again, LONG)).toBeNull();
      expect(await store.sweep()).toBe(0);
      expect((await store.byNode("node-a")).map((s) => s.session).sort()).toEqual([r.session, again.session].sort());
    });

    test("ids with braces, colons and spaces are kept apart and read back intact", async () => {
      const odd = record({ user: "}a{b}:c", device: "x y:{z}", node: "n}{1" });
      const plain = record({ user: "}a", device: "x y:{z}", node: "n}{1" });
      await store.register(odd, LONG);
      await store.register(plain, LONG);
      expect(await store.byUser("}a{b}:c")).toEqual([odd]);
      expect(await store.byUser("}a")).toEqual([plain]);
      expect(sorted(await store.byNode("n}{1"))).toEqual(sorted([odd, plain]));
      await store.remove(odd);
      expect(await store.byNode("n}{1")).toEqual([plain]);
    });

    test("a user id and a device id never run together: ('x}:y', 'z') and ('x', 'y}:z') are two sessions", async () => {
      const one = record({ user: "x}:y", device: "z" });
      const two = record({ user: "x", device: "y}:z" });
      expect(await store.register(one, LONG)).toBeNull();
      expect(await store.register(two, LONG)).toBeNull();
      expect(await store.byUser("x}:y")).toEqual([one]);
      expect(await store.byUser("x")).toEqual([two]);
    });

    test("ids that are not well-formed Unicode are refused, naming the field: '\\ud800v' and '\\udbffv' never share a session", async () => {
      const refused = { code: "bad_request", message: expect.stringContaining("well-formed") };
      await expect(store.register(record({ user: "\ud800victim" }), LONG)).rejects.toMatchObject({ ...refused, message: expect.stringContaining("user") });
      await expect(store.register(record({ user: "victim", device: "\udbffphone" }), LONG)).rejects.toMatchObject({ ...refused, message: expect.stringContaining("device") });
      await expect(store.register(record({ user: "x".repeat(129) }), LONG)).rejects.toMatchObject({ code: "bad_request" });
      await expect(store.byUser("\udbffvictim")).rejects.toMatchObject(refused);
      await expect(store.refresh("node-a", [record({ user: "\udfffvictim" })], LONG)).rejects.toMatchObject(refused);
      await expect(store.remove(record({ user: "\ud800victim" }))).rejects.toMatchObject(refused);
    });

    test("ids of 128 characters, astral ones included, are accepted and kept apart when they differ in the last one", async () => {
      const one = record({ user: "😀".repeat(128), device: "é".repeat(128) });
      const two = record({ user: `${"😀".repeat(127)}😁`, device: "é".repeat(128) });
      expect(await store.register(one, LONG)).toBeNull();
      expect(await store.register(two, LONG)).toBeNull();
      expect(await store.byUser(one.user)).toEqual([one]);
      expect(await store.byUser(two.user)).toEqual([two]);
    });
  });
}
