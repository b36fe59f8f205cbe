import { describe, expect, test } from "bun:test";
import { repeated, type Round, xs } from "../../bench/lookup.ts";
import { markdown, type Results } from "../../bench/report.ts";
import { verdicts } from "../../bench/verdicts.ts";
import type { IdleResult } from "../../bench/scenarios/idle.ts";
import { savedResults as saved } from "./fixture.ts";

/**
 * A round in which duplex on Node held `ours` bytes a connection against Socket.IO's `theirs`
 * (past the first third, the figure the targets read); the other systems keep their whole figure.
 */
function round(r: Results, ours: number, theirs: number): Round {
  const marginal = (i: IdleResult) => (i.id === "duplex-node" ? ours : i.id === "socketio" ? theirs : i.bytesPerConn);
  const idle = r.idle.map((i) => ({ ...i, marginalBytesPerConn: marginal(i) }));
  return { idle, latency: r.latency.filter((l) => l.id === "duplex-bun" || l.id === "bare") };
}

const nodeTarget = (r: Results) => verdicts(r).find((v) => v.target.startsWith("memory per idle connection on Node"))!;

describe("repeated single-node measurements", () => {
  test("a target reads the median of the rounds' ratios, each ratio taken within its round", () => {
    const r = saved();
    r.idle = round(r, 7000, 12_000).idle; // round 1: 0.58×
    r.rounds = [round(r, 5000, 12_000), round(r, 6000, 12_000)]; // 0.42×, 0.50×
    const v = nodeTarget(r);
    expect(v.met).toBe(true);
    expect(v.measured).toStartWith("0.50×, the median of 3 rounds (0.58×, 0.42×, 0.50×); round 1: 6.8 vs 11.7 KiB");
  });

  test("the memory targets read what a connection past the first third costs, and quote the whole burst's average beside it", () => {
    const r = saved(); // its whole figures: duplex (node) 6.9 KiB, Socket.IO 12.2: 0.57×
    r.idle = round(r, 5000, 14_000).idle;
    const v = nodeTarget(r);
    expect(v.met).toBe(true);
    expect(v.measured).toBe("0.36×; 4.9 vs 13.7 KiB a connection past the first third, a bare `ws` server 4.6 KiB (the whole burst over its count: 6.9 vs 12.2 KiB, bare `ws` 4.6)");
    // A run from before the two parts has no marginal figure: the target is not measured, not judged on the whole.
    expect(nodeTarget(saved()).met).toBeNull();
  });

  test("Deno's figure is explained by the bare `ws` server on both runtimes, and says so when that floor is missing", () => {
    const r = saved();
    const deno = () => verdicts(r).find((t) => t.target.startsWith("memory per idle connection on Deno"))!.measured;
    const bytes: Record<string, number> = { "duplex-deno": 7 * 1024, "duplex-node": 5 * 1024, "bare-ws": 2 * 1024, "duplex-bun": 2.5 * 1024 };
    r.idle = r.idle.map((i) => ({ ...i, marginalBytesPerConn: bytes[i.id] }));
    expect(deno()).toContain("the bare `ws` server on Deno was not measured in this run");
    r.idle.push({ ...r.idle.find((i) => i.id === "bare-ws")!, id: "bare-ws-deno", label: "bare ws (deno)", marginalBytesPerConn: 6.5 * 1024 });
    expect(deno()).toStartWith("7.0 KiB a connection past the first third (Bun 2.5, Node 5.0); a bare `ws` server on node:http held 6.5 KiB on Deno and 2.0 KiB on Node: Deno's Node-compatible socket costs 4.5 KiB more than Node's before any server code runs, and duplex adds 0.5 KiB to it (on Node duplex adds 3.0 KiB)");
    r.idle.find((i) => i.id === "bare-ws-deno")!.marginalBytesPerConn = 7.5 * 1024;
    expect(deno()).toContain("and duplex measured 0.5 KiB below it: what duplex adds is lost in the spread of the socket's cost (on Node duplex adds 3.0 KiB)");
  });

  test("the median misses when most rounds miss, whatever the best round did", () => {
    const r = saved();
    r.idle = round(r, 7000, 12_000).idle;
    r.rounds = [round(r, 4000, 12_000), round(r, 6600, 12_000)];
    expect(nodeTarget(r).met).toBe(false);
  });

  test("an even number of rounds takes the mean of the middle two", () => {
    const r = saved();
    r.rounds = [round(r, 1, 1)];
    expect(repeated(r, (x) => (x === r ? 1 : 2))).toEqual({ each: [1, 2], median: 1.5 });
  });

  test("a run measured once reads its one ratio; a round that lacks a system keeps its place but counts for nothing", () => {
    const r = saved();
    expect(repeated(r, () => 0.57)).toEqual({ each: [0.57], median: 0.57 });
    expect(xs(repeated(r, () => 0.57))).toBe("0.57×");
    r.rounds = [{ idle: [], latency: [] }, round(r, 1, 1)];
    const v = repeated(r, (x) => (x.idle.length ? (x === r ? 0.4 : 0.6) : null))!;
    expect(v).toEqual({ each: [0.4, null, 0.6], median: 0.5 });
    expect(xs(v)).toBe("0.50×, the median of 3 rounds (0.40×, –, 0.60×)");
    expect(repeated({ ...r, rounds: [] }, () => null)).toBeNull();
  });

  test("the report lists every round's figures", () => {
    const r = saved();
    r.rounds = [round(r, 5000, 12_000)];
    const md = markdown(r);
    expect(md).toContain("### Repeated: the close single-node measurements, round by round");
    expect(md).toContain("| memory per idle connection, duplex (node) ÷ Socket.IO (node) (round 1) |");
    expect(md).toMatch(/\n\| 2 \| [\d.]+ \| [\d.]+ \| 4\.9 \| [\d.]+ \| 11\.7 \| [\d.]+ \| [\d.]+ \|\n/);
    expect(markdown(saved())).not.toContain("round by round");
  });
});
