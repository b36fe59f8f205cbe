import { describe, expect, test } from "bun:test";
import type { Results } from "../../bench/report.ts";
import { firstFailed, type Round } from "../../bench/lookup.ts";
import { floorAtRatio, perSendNote } from "../../bench/verdict-notes.ts";
import { highestSustained, type Step, type ThroughputResult } from "../../bench/scenarios/throughput.ts";
import { ratios, verdicts } from "../../bench/verdicts.ts";
import { savedResults as saved } from "./fixture.ts";

/** Sets the whole machine's CPU on `id`'s conversations step at `rate`. */
function machine(r: Results, id: string, rate: number, cores: number): void {
  r.throughput.find((t) => t.id === id && t.shape === "convs")!.steps.find((s) => s.rate === rate)!.machineCores = cores;
}

describe("the per-send note: what the machine had left", () => {
  test("names the machine's and the server's CPU at duplex's failed step and at the floor's step at three times Socket.IO's rate", () => {
    const r = saved();
    machine(r, "duplex-bun", 25_629, 1.97);
    machine(r, "bare", 38_443, 1.62);
    const note = perSendNote(r);
    expect(note).toContain("Over 25,629 sends/s, the step duplex did not sustain (sending and the wait for its acks), the machine had no CPU to spare: 1.97 of its 2 cores were busy, 0.69 of them duplex's server;");
    expect(note).toContain("over the floor's step at 38,443 sends/s, 1.62 were, 0.44 of them its server.");
  });

  test("says the machine was not short of CPU when a tenth of it was spare", () => {
    const r = saved();
    machine(r, "duplex-bun", 25_629, 1.7);
    machine(r, "bare", 38_443, 1.62);
    expect(perSendNote(r)).toContain("the machine was not short of CPU: 1.70 of its 2 cores were busy");
  });

  test("results measured before the machine's CPU was read get no such sentence", () => {
    expect(perSendNote(saved())).not.toContain("the whole machine");
  });
});

describe("the per-send note: three times Socket.IO's rate against one core's worth of duplex's cost", () => {
  /** duplex's best conversations step at `rate` sends/s on `cores` of server CPU, Socket.IO's at `theirs`. */
  function at(rate: number, cores: number, theirs: number): Results {
    const r = saved();
    const ours = r.throughput.find((t) => t.id === "duplex-bun" && t.shape === "convs")!;
    ours.best = { ...ours.best!, rate, serverCores: cores };
    const sio = r.throughput.find((t) => t.id === "socketio" && t.shape === "convs")!;
    sio.best = { ...sio.best!, rate: theirs };
    // No system sustained three times Socket.IO's rate.
    for (const t of r.throughput) if (t.shape === "convs" && t.best && t.best.rate >= 3 * theirs) t.best = null;
    return r;
  }

  test("says what one core would carry when that is below the rate needed", () => {
    // 25,629 sends/s on 0.74 of a core: 28.9 µs a send, 34,634 sends/s a core, short of 44,778.
    expect(perSendNote(at(25_629, 0.74, 14_926))).toContain("At the 28.9 µs of server CPU a send duplex spent at its best step, one core's worth of CPU, all its JavaScript thread can use, would carry about 34,634 sends/s");
  });

  test("says nothing of it when one core would carry the rate needed", () => {
    expect(perSendNote(at(25_629, 0.74, 10_000))).not.toContain("one core's worth");
  });
});

describe("a refined ladder: the steps tried between the last sustained and the first not", () => {
  test("the result is the highest step sustained, and the step fallen short of the lowest failed one above it", () => {
    const r = saved();
    const ours = r.throughput.find((t) => t.id === "duplex-bun" && t.shape === "convs")!;
    const failed = ours.steps.find((s) => !s.passed)!;
    const refined = (rate: number, passed: boolean) => ({ ...failed, rate, passed, machineCores: 1.9 });
    const [sustained, short] = [Math.round(ours.best!.rate * 1.145), Math.round(ours.best!.rate * 1.31)];
    // Tried after the ladder's failed step, in the order the ladder tries them.
    ours.steps.push(refined(sustained, true), refined(short, false));
    ours.best = ours.steps.find((s) => s.rate === sustained)!;
    machine(r, "bare", 38_443, 1.62);
    expect(firstFailed(ours)!.rate).toBe(short);
    expect(perSendNote(r)).toContain(`Over ${firstFailed(ours)!.rate.toLocaleString("en-US")} sends/s, the step duplex did not sustain`);
  });
});

describe("the older 3× target over the 500 conversations on one node", () => {
  const older = (r: Results) => verdicts(r).find((v) => v.target.startsWith("≥ 3× Socket.IO's delivered msgs/s at an equal or better p99 (500 conversations"))!;

  test("points to the issue's target for the per-send note when that target fails too", () => {
    const v = older(saved());
    expect(v.met).toBe(false);
    expect(v.why).toContain(`Where a send's time goes is under the target "500 conversations on one Bun node"`);
    expect(v.why).not.toContain("stringify");
  });

  test("carries the note itself when the issue's target, which allows twice Socket.IO's p99, is met", () => {
    const r = saved();
    const sio = r.throughput.find((t) => t.id === "socketio" && t.shape === "convs")!;
    // Socket.IO sustained under a third of duplex's rate, at a p99 a little under duplex's.
    const ours = r.throughput.find((t) => t.id === "duplex-bun" && t.shape === "convs")!.best!;
    sio.best = { ...sio.best!, rate: ours.rate / 3.2, deliveredPerSec: ours.deliveredPerSec / 3.2, e2e: { ...ours.e2e, p99: ours.e2e.p99 * 0.9 } };
    const v = older(r);
    expect(v.met).toBe(false);
    expect(v.why).toContain("Three times Socket.IO's rate is");
  });
});

describe("the group target against bare Bun's native publish", () => {
  const share = (r: Results) => verdicts(r).find((v) => v.target.startsWith("group 1 → 199 on one Bun node ≥ 50%"))!;
  const ladder = (r: Results, id: string) => r.throughput.find((t) => t.id === id && t.shape === "group")!;

  test("is met when duplex reached half of what the floor sustained at its limit", () => {
    const r = saved();
    const floor = ladder(r, "bare");
    // The floor fails its top step: the step below is its limit.
    floor.steps = floor.steps.map((s, i) => ({ ...s, passed: i < floor.steps.length - 1 }));
    floor.best = floor.steps[floor.steps.length - 2];
    expect(share(r).met).toBe(true);
  });

  test("decides nothing when the floor passed the ladder's top step: its rate, and so the share, is only a bound", () => {
    const r = saved();
    expect(ladder(r, "bare").steps.every((s) => s.passed)).toBe(true);
    expect(share(r).met).toBe(null);
  });
});

describe("the tail at 5,000/s against bare Bun's", () => {
  const tail = (r: Results) => verdicts(r).find((v) => v.target.startsWith("e2e p99 at 5000 msg/s on one Bun node"))!;

  test("a miss says how late the load processes ran during each system's step, beside both tails", () => {
    const r = saved();
    const at = (id: string) => r.latency.find((l) => l.id === id && l.rate === 5000)!;
    at("duplex-bun").lagP99 = 3.62;
    at("bare").lagP99 = 2.37;
    const v = tail(r);
    expect(v.met).toBe(false);
    expect(v.why).toContain("in round 1 they ran up to 3.6 ms late");
    expect(v.why).toContain("and 2.4 ms while the floor was");
    expect(v.why).toContain(`against tails of ${at("duplex-bun").e2e.p99.toFixed(1)} ms and ${at("bare").e2e.p99.toFixed(1)} ms`);
  });

  test("a miss says how long each server's event-loop thread ran and waited for a core in round 1, and what its other threads ran", () => {
    const r = saved();
    const at = (id: string) => r.latency.find((l) => l.id === id && l.rate === 5000)!;
    at("duplex-bun").cpu = { servers: 0.281, rabbitmq: null, redis: null, machine: 1.9, mainThread: { running: 0.231, waiting: 0.098 } };
    at("bare").cpu = { servers: 0.17, rabbitmq: null, redis: null, machine: 1.8, mainThread: { running: 0.165, waiting: 0.092 } };
    const v = tail(r);
    expect(v.met).toBe(false);
    expect(v.why).toContain("In round 1's step duplex's event-loop thread ran 231 ms of each second (46 µs a message) and waited 98 ms for a core, while its other threads (JIT compilers, the collector's helpers) ran 50 ms;");
    expect(v.why).toContain("the floor's ran 165 ms of each second (33 µs a message) and waited 92 ms for a core, while its other threads (JIT compilers, the collector's helpers) ran 5 ms.");
  });

  test("a miss says how often JavaScriptCore collected each server's heap during round 1's step, how long it paused, and the later rounds' counts", () => {
    const r = saved();
    const at = (round: Results | Round, id: string) => round.latency.find((l) => l.id === id && l.rate === 5000)!;
    at(r, "duplex-bun").gc = { collections: 31, full: 2, pauseMs: 87.84, maxPauseMs: 3.81 };
    at(r, "bare").gc = { collections: 0, full: 0, pauseMs: 0, maxPauseMs: 0 };
    r.rounds = [2, 3].map((n) => ({
      idle: [],
      latency: [{ ...at(r, "duplex-bun"), gc: { collections: 26 + n, full: 0, pauseMs: 80, maxPauseMs: 4 } }, { ...at(r, "bare"), gc: { collections: n - 2, full: 0, pauseMs: 1, maxPauseMs: 1 } }],
    }));
    const why = tail(r).why;
    expect(why).toContain("During round 1's step JavaScriptCore collected duplex's heap 31 times, 2 of them full, pausing its event loop for 87.8 ms in all (0.9% of the step) and 3.8 ms at the longest; the floor's not once.");
    expect(why).toContain("In the later rounds duplex's node collected 28, 29 times, the floor's 0, 1.");
    delete r.rounds[1].latency[1].gc;
    expect(tail(r).why).not.toContain("In the later rounds");
  });

  test("results measured before collections were counted, or on a runtime that does not log them, get no sentence on them", () => {
    const r = saved();
    expect(tail(r).why).not.toContain("JavaScriptCore");
    r.latency.find((l) => l.id === "duplex-bun" && l.rate === 5000)!.gc = { collections: 3, full: 0, pauseMs: 6, maxPauseMs: 2 };
    r.latency.find((l) => l.id === "bare" && l.rate === 5000)!.gc = null;
    expect(tail(r).why).not.toContain("JavaScriptCore");
  });

  test("results measured before the threads were read, or where the kernel keeps no schedstat, get no such sentence", () => {
    const r = saved();
    expect(tail(r).why).not.toContain("event-loop thread");
    r.latency.find((l) => l.id === "duplex-bun" && l.rate === 5000)!.cpu = { servers: 0.3, rabbitmq: null, redis: null, machine: 1.9, mainThread: null };
    r.latency.find((l) => l.id === "bare" && l.rate === 5000)!.cpu = { servers: 0.2, rabbitmq: null, redis: null, machine: 1.8, mainThread: { running: 0.1, waiting: 0.01 } };
    expect(tail(r).why).not.toContain("event-loop thread");
  });
});

describe("the cluster's floors (bare Bun.serve ×3 on duplex's hops, then with a Redis append) beside the cluster's targets", () => {
  type P = [number, number];
  /**
   * The saved run with a floor's latency at 1000/s and 5000/s at these p50/p99 (ms) and its
   * conversations ladder at `sustained` sends/s; the store's floor only when given.
   */
  function withFloors(hops: { at1000: P; at5000: P; sustained: number }, store?: { at1000: P; at5000: P; sustained: number }): Results {
    const r = saved();
    const ours = (rate: number) => r.latency.find((l) => l.id === "duplex-cluster" && l.rate === rate)!;
    const convs = r.throughput.find((t) => t.id === "duplex-cluster" && t.shape === "convs")!;
    const add = (id: string, f: { at1000: P; at5000: P; sustained: number }) => {
      for (const [rate, [p50, p99]] of [[1000, f.at1000], [5000, f.at5000]] as const) {
        r.latency.push({ ...ours(rate), id, stages: undefined, e2e: { count: rate * 10, p50, p99, p999: p99 * 2, max: p99 * 3 }, cpu: { servers: 0.3, rabbitmq: 0.6, redis: 0.01, machine: 1.05 } });
      }
      r.throughput.push({ ...convs, id, best: { ...convs.best!, rate: f.sustained, deliveredPerSec: 3 * f.sustained, e2e: { ...convs.best!.e2e, p99: 361.7 } } });
    };
    add("bare-cluster", hops);
    if (store) add("bare-cluster-store", store);
    return r;
  }
  const hops = { at1000: [2.5, 11.2] as P, at5000: [14, 70] as P, sustained: 6634 };
  const target = (r: Results, start: string) => verdicts(r).find((v) => v.target.startsWith(start))!;
  const at1000 = (r: Results) => target(r, "cluster, cross-node 1:1 at 1000 msg/s").why;
  const at5000 = (r: Results) => target(r, "cluster, cross-node 1:1 at 5000 msg/s").why;
  const convs = (r: Results) => target(r, "cluster, 500 conversations sustained").why;

  test("a floor whose p99 is over Socket.IO ×3's says no implementation of the pipeline meets the target here", () => {
    // Socket.IO ×3's p99 at 1000/s in the saved run: 3.835 ms.
    const why = at1000(withFloors(hops));
    expect(why).toContain("docs/09-order.md, the floor) had, at 1000 msg/s: with the hops alone, p50 2.50 ms and p99 11.20 ms (1.05 of the machine's cores busy). With the hops alone the p99 is over Socket.IO ×3's 3.83 ms before duplex adds anything, so no implementation of this pipeline meets the target on this machine.");
    expect(why).not.toContain("the p50 is over");
  });

  test("names each limit the floor misses, the median as well", () => {
    expect(at1000(withFloors({ ...hops, at1000: [3.4, 11.2] }))).toContain("With the hops alone the p50 is over the target's 3.00 ms and the p99 is over Socket.IO ×3's 3.83 ms before duplex adds anything");
  });

  test("floors within the target put the miss on what duplex adds", () => {
    const why = at5000(withFloors(hops, { ...hops, at5000: [20, 90] }));
    expect(why).toContain("with the hops alone, p50 14.00 ms and p99 70.00 ms (1.05 of the machine's cores busy); with the hops and one Redis append a batch, p50 20.00 ms and p99 90.00 ms");
    expect(why).toContain(": within the target, so what duplex adds beyond them (its store's append, its own work per message) is what misses it.");
    expect(why).not.toContain("no implementation");
  });

  test("where only the floor with a store misses, that floor is the one named", () => {
    const why = at5000(withFloors(hops, { ...hops, at5000: [40, 130] }));
    expect(why).toContain("With the hops and one Redis append a batch the p99 is over the target's 100.00 ms before duplex adds anything, so no implementation");
  });

  test("a floor that misses while the floor doing more meets the target proves nothing", () => {
    const why = at1000(withFloors(hops, { ...hops, at1000: [2.5, 3.5] }));
    expect(why).not.toContain("no implementation");
    expect(why).toContain("within the target");
    expect(convs(withFloors({ ...hops, sustained: 7000 }, { ...hops, sustained: 8650 }))).toContain(": within the target");
  });

  test("a floor slower than duplex itself was stalled: it decides nothing, and the sentence says so", () => {
    // duplex ×3 in the saved run: p50 5.295 ms, p99 29.599 ms at 1000/s; 2,250 sends/s over 500 conversations.
    const stalled = { at1000: [30, 300] as P, at5000: [14, 70] as P, sustained: 1500 };
    const why = at1000(withFloors(stalled, stalled));
    expect(why).toContain("Each measured worse than duplex itself, which does more than any floor: the machine stalled during their steps, so they decide nothing.");
    expect(why).not.toContain("no implementation");
    expect(convs(withFloors(stalled, stalled))).toContain("so they decide nothing");
    // The hops' floor beyond the target, the store's stalled: the hops' miss still stands.
    expect(at1000(withFloors(hops, stalled))).toContain("With the hops alone the p99 is over Socket.IO ×3's 3.83 ms before duplex adds anything, so no implementation");
    // The store's floor sane and beyond the target, the hops' stalled: the claim rests on the store's.
    expect(at1000(withFloors(stalled, { ...hops, at1000: [4, 20] }))).toContain("With the hops and one Redis append a batch the p50 is over the target's 3.00 ms and the p99 is over Socket.IO ×3's 3.83 ms before duplex adds anything");
  });

  test("the conversations target compares each floor's sustained rate with the higher of its two bounds", () => {
    // 1.5 × Socket.IO ×3's 5,063 is 7,595; 30% of the raw hop's 26,977 is 8,093.
    expect(convs(withFloors(hops))).toContain("sustained, with the hops alone, 6,634 sends/s (p99 361.70 ms). With the hops alone that is short of the 8,093 the target asks before duplex adds anything, so no implementation of this pipeline meets the target on this machine.");
    expect(convs(withFloors({ ...hops, sustained: 9000 }, { ...hops, sustained: 8650 }))).toContain("with the hops and one Redis append a batch, 8,650 sends/s (p99 361.70 ms): within the target");
    expect(convs(withFloors({ ...hops, sustained: 9000 }, { ...hops, sustained: 7000 }))).toContain("With the hops and one Redis append a batch that is short of the 8,093");
  });

  test("the ratios of the cluster to each floor are reported where that floor was measured", () => {
    const p99 = (name: string) => `e2e p99 at 1000/s, duplex cluster ÷ ${name}`;
    const both = ratios(withFloors({ ...hops, at1000: [2.5, 10] }, { ...hops, at1000: [3, 20] }));
    expect(both.find((x) => x.what === p99("its floor with the hops alone"))!.value).toBeCloseTo(29.599 / 10, 3);
    expect(both.find((x) => x.what === p99("its floor with the hops and one Redis append a batch"))!.value).toBeCloseTo(29.599 / 20, 3);
    expect(ratios(withFloors(hops)).find((x) => x.what === p99("its floor with the hops and one Redis append a batch"))!.value).toBeNull();
    const ours = saved().throughput.find((t) => t.id === "duplex-cluster" && t.shape === "convs")!.best!.deliveredPerSec;
    expect(both.find((x) => x.what === "delivered/s (conversations), duplex cluster ÷ its floor with the hops alone")!.value).toBeCloseTo(ours / (3 * 6634), 3);
  });

  test("results measured before the floors existed get no sentence", () => {
    const r = saved();
    expect(at1000(r)).not.toContain("floors of this design");
    expect(convs(r)).not.toContain("floors of this design");
  });
});

describe("a ratio target duplex misses, tried on bare Bun's native publish", () => {
  const at = (rate: number, deliveredPerSec: number, p99: number, passed = true, aimed = false) =>
    ({ rate, deliveredPerSec, passed, e2e: { p99 }, ...(aimed ? { aimed } : {}) }) as Step;
  const run = (id: string, steps: Step[]) => ({ id, shape: "group", fanout: 199, steps, best: highestSustained(steps) }) as ThroughputResult;
  const theirs = at(1119, 222_681, 40.3);
  const results = (floor: Step[]) => ({ throughput: [run("socketio", [theirs, at(1281, 254_919, 769, false)]), run("bare", floor)] }) as unknown as Results;

  test("a step aimed at 3× whose p99 is over Socket.IO's says no server on this runtime met it here", () => {
    const floor = [at(2883, 573_717, 28.6), at(3374, 671_426, 47.2, true, true), at(4325, 860_675, 134.9), at(6487, 1_000_000, 1584, false)];
    expect(floorAtRatio(results(floor), "group", 3, 1)).toBe(
      " Bare Bun's native publish, doing none of duplex's work, reached 3× Socket.IO's delivered/s at 3,374 sends/s (a step run at that ratio) with a p99 of 47.2 ms, over Socket.IO's p99 (40.3 ms): no server on this runtime met the target on this machine in this run.",
    );
  });

  test("a ladder step far over 3× states its p99 and concludes nothing", () => {
    const floor = [at(2883, 573_717, 28.6), at(4325, 860_675, 134.9), at(6487, 1_000_000, 1584, false)];
    expect(floorAtRatio(results(floor), "group", 3, 1)).toBe(
      " Bare Bun's native publish, doing none of duplex's work, reached 3× Socket.IO's delivered/s at 4,325 sends/s with a p99 of 134.9 ms, over Socket.IO's p99 (40.3 ms).",
    );
  });

  test("a floor that never sustained 3× says so; one that met it puts the miss on duplex's own work", () => {
    expect(floorAtRatio(results([at(2883, 573_717, 28.6), at(4325, 860_675, 900, false)]), "group", 3, 1)).toBe(
      " Bare Bun's native publish, doing none of duplex's work, sustained at most 573,717 delivered/s, short of 3× Socket.IO's 668,043: no server on this runtime met the target on this machine in this run.",
    );
    expect(floorAtRatio(results([at(3374, 671_426, 39.9, true, true), at(6487, 1_000_000, 1584, false)]), "group", 3, 1)).toBe(
      " Bare Bun's native publish, doing none of duplex's work, met it (671,426 delivered/s at p99 39.9 ms): what duplex adds to each send is what misses it.",
    );
  });

  test("twice Socket.IO's p99 allowed is named as such, and a floor that passed the ladder's top step decides nothing", () => {
    const floor = [at(3374, 671_426, 90, true, true), at(4325, 860_675, 134.9), at(6487, 1_000_000, 1584, false)];
    expect(floorAtRatio(results(floor), "group", 3, 2)).toContain("over 2× Socket.IO's p99 (80.6 ms): no server");
    expect(floorAtRatio(results([at(2883, 573_717, 28.6)]), "group", 3, 1)).toBe("");
  });
});
