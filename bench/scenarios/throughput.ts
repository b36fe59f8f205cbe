/**
 * Metric 4: sustained delivered messages per second, found by a ladder of open-loop
 * rates. A step passes when (nearly) every expected delivery arrived, every send was
 * acked, and p99 stayed under the plan's bound; the result is the highest step that passed,
 * the ladder's last one or a finer step tried between it and the first that did not.
 * Two shapes: one sender in a group of 100 members with two devices each (every send
 * is delivered 199 times), and many busy 1:1 conversations whose members have two
 * devices each (every send is delivered 3 times: twice to the peer, once to the sender's
 * other device).
 */
import { percentiles, type Percentiles } from "../load/hist.ts";
import { type Ladder, resolution } from "../plan.ts";
import { cpuMeter } from "../systems/cpu.ts";
import type { Target } from "../systems/targets.ts";
import { byWorker, type Ctx, delivered, type Device, drain, openDevices } from "./common.ts";

export type Shape = "group" | "convs";

export interface Step {
  /** Offered sends per second. */
  rate: number;
  sent: number;
  acked: number;
  expected: number;
  received: number;
  deliveredPerSec: number;
  e2e: Percentiles;
  /** CPU the system's server processes used while the step sent, in cores. */
  serverCores: number;
  /** CPU the whole machine used meanwhile (load processes included), in cores; absent in older results. */
  machineCores?: number;
  passed: boolean;
  /** Run at the rate a target names rather than as a step of the ladder (aimedSteps). */
  aimed?: boolean;
}

export interface ThroughputResult {
  id: string;
  label: string;
  shape: Shape;
  /** Deliveries per send. */
  fanout: number;
  steps: Step[];
  best: Step | null;
}

interface Setup {
  fanout: number;
  devices: Device[];
  members: string[][];
  /** Device index of each conversation's sender. */
  senderOf: number[];
}

function group(ctx: Ctx, t: Target): Setup {
  const { members, devices } = ctx.plan.group;
  const users = Array.from({ length: members }, (_, u) => `g${u}`);
  const list = users.flatMap((user, u) => Array.from({ length: devices }, (_, d) => {
    const i = u * devices + d;
    return { user, device: `d${d}`, node: i % t.nodes.length, worker: i % ctx.pool.size };
  }));
  return { fanout: members * devices - 1, devices: list, members: [users], senderOf: [0] };
}

function conversations(ctx: Ctx, t: Target): Setup {
  const { count, devices } = ctx.plan.convs;
  const list: Device[] = [];
  const members: string[][] = [];
  const senderOf: number[] = [];
  for (let k = 0; k < count; k++) {
    const pair = [`ca${k}`, `cb${k}`];
    members.push(pair);
    senderOf.push(list.length);
    for (const user of pair) {
      for (let d = 0; d < devices; d++) {
        const i = list.length;
        list.push({ user, device: `d${d}`, node: i % t.nodes.length, worker: i % ctx.pool.size });
      }
    }
  }
  return { fanout: 2 * devices - 1, devices: list, members, senderOf };
}

/**
 * One shape's sockets open on `t`, and a step run over them at a time: the ladder and the
 * steps aimed at a target (aimedSteps) share it.
 */
async function stepper(ctx: Ctx, t: Target, shape: Shape) {
  const setup = shape === "group" ? group(ctx, t) : conversations(ctx, t);
  const { stepMs } = shape === "group" ? ctx.plan.group.ladder : ctx.plan.convs.ladder;
  const convs = await t.conversations(setup.members);
  const connect = async () => {
    const { keys } = await openDevices(ctx, t, setup.devices);
    return convs.map((conv, k) => ({ key: keys[setup.senderOf[k]], conv, worker: setup.devices[setup.senderOf[k]].worker }));
  };
  let senders = await connect();
  const steps: Step[] = [];
  const run = async (rate: number, aimed = false): Promise<boolean> => {
    const tag = `${shape}${rate}`;
    const plan = byWorker(ctx, senders, rate);
    const meter = cpuMeter(t.nodes.map((node) => node.pid));
    const s = await ctx.pool.send(tag, plan.senders, plan.rates, { durationMs: stepMs, drainMs: ctx.plan.drainMs });
    const { servers: serverCores, machine: machineCores } = meter();
    const expected = s.sent * setup.fanout;
    const d = await delivered(ctx, tag, expected, ctx.plan.drainMs);
    if (steps.length === 0 && d.received === 0) throw new Error(`${t.label} delivered nothing at ${rate} sends/s: it is not working`);
    const e2e = percentiles(d.latency);
    const passed = s.acked === s.sent && d.received >= ctx.plan.passDelivered * expected && e2e.p99 <= ctx.plan.passP99Ms;
    steps.push({ rate, sent: s.sent, acked: s.acked, expected, received: d.received, deliveredPerSec: d.received / (stepMs / 1000), e2e, serverCores, machineCores, passed, ...(aimed ? { aimed } : {}) });
    ctx.say(`  ${t.label} ${shape}: ${rate} sends/s${aimed ? " (aimed at a target)" : ""} → ${Math.round(d.received / (stepMs / 1000))} delivered/s, p99 ${e2e.p99.toFixed(1)} ms${passed ? "" : " (not sustained)"}`);
    if (!passed) await drain(ctx, tag);
    return passed;
  };
  // On fresh sockets: a step not sustained may have cost some (a slow reader is closed
  // with 1013), and a send to a closed one is never acked.
  const reconnect = async () => {
    await ctx.pool.closeAll();
    senders = await connect();
  };
  return { fanout: setup.fanout, steps, run, reconnect };
}

export async function throughput(ctx: Ctx, t: Target, shape: Shape): Promise<ThroughputResult> {
  const ladder: Ladder = shape === "group" ? ctx.plan.group.ladder : ctx.plan.convs.ladder;
  const { fanout, steps, run, reconnect } = await stepper(ctx, t, shape);
  let i = 0;
  while (i < ladder.steps && await run(Math.round(ladder.start * ladder.factor ** i))) i++;
  // The ladder's factor is too coarse for a ratio between systems (×1.5 reads 2.9× as 2.25×):
  // between the last step sustained and the first not, up to `refine` more steps split the gap.
  const finer = refinedRates(ladder, i);
  if (finer.length > 0) {
    await reconnect();
    for (const rate of finer) if (!await run(rate)) break;
  }
  await ctx.pool.closeAll();
  return { id: t.id, label: t.label, shape, fanout, steps, best: highestSustained(steps) };
}

/**
 * Steps at the given rates, each on fresh sockets, marked `aimed`: a target of the form
 * "k× another system's delivered/s at its p99" is decided at k× exactly (lookup.ts
 * aimedRates), where the ladder may have no step between k× and the next ×1.15.
 */
export async function aimedSteps(ctx: Ctx, t: Target, shape: Shape, rates: readonly number[]): Promise<Step[]> {
  const { steps, run, reconnect } = await stepper(ctx, t, shape);
  for (const [k, rate] of rates.entries()) {
    if (k > 0) await reconnect();
    await run(rate, true);
  }
  await ctx.pool.closeAll();
  return steps;
}

/** The rates between the ladder's last step sustained and `failed`, its first not (none when it failed first or never). */
export function refinedRates(ladder: Ladder, failed: number): number[] {
  if (failed === 0 || failed >= ladder.steps) return [];
  const below = ladder.start * ladder.factor ** (failed - 1);
  return Array.from({ length: ladder.refine ?? 0 }, (_, k) => Math.round(below * resolution(ladder) ** (k + 1)));
}

export const highestSustained = (steps: Step[]): Step | null =>
  steps.reduce<Step | null>((best, s) => (s.passed && (!best || s.rate > best.rate) ? s : best), null);
