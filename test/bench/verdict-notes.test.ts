import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Results } from "../../bench/report.ts";
import { ROOT } from "../../bench/systems/spawn.ts";
import { perSendNote } from "../../bench/verdict-notes.ts";

const saved = () => JSON.parse(readFileSync(join(ROOT, "bench/results/latest.json"), "utf8")) as Results;

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
    expect(note).toContain("At 25,629 sends/s, the step duplex did not sustain, the whole machine was 1.97 of its 2 cores busy and duplex's server 0.69: the server waited for CPU the load processes and the kernel held;");
    expect(note).toContain("the floor's step at 38,443 sends/s kept the machine 1.62 cores busy, its server 0.44.");
  });

  test("says nothing of waiting for CPU when the machine had a tenth of it to spare", () => {
    const r = saved();
    machine(r, "duplex-bun", 25_629, 1.7);
    machine(r, "bare", 38_443, 1.62);
    expect(perSendNote(r)).toContain("1.70 of its 2 cores busy and duplex's server 0.69; the floor's");
  });

  test("results measured before the machine's CPU was read get no such sentence", () => {
    expect(perSendNote(saved())).not.toContain("the whole machine");
  });
});
