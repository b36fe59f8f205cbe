/**
 * How much of everything a run does: the full run, and `--quick`, the same measurements
 * scaled down to a smoke run that finishes in under two minutes.
 */
export interface Ladder {
  /** First offered rate (sends per second); each next step multiplies it by `factor`. */
  start: number;
  factor: number;
  /** Steps tried between the last rate sustained and the first not, evenly apart by ratio (none in results from before there were any). */
  refine?: number;
  steps: number;
  stepMs: number;
}

/** The ratio between two neighbouring rates a ladder can report: ×factor, less where it refines. */
export const resolution = ({ factor, refine = 0 }: Ladder): number => factor ** (1 / (refine + 1));

export interface Plan {
  quick: boolean;
  workers: number;
  /** Hard bound of the whole run: past it everything is killed and the run fails. */
  deadlineMs: number;
  idle: { conns: number; warm: number; concurrency: number; settleMs: number; runtimes: ("bun" | "deno" | "node")[] };
  /** floorRate: a clusters-only first step, low enough to leave the machine mostly idle (the pipeline's own latency); null: not measured. */
  latency: { pairs: number; rates: number[]; floorRate: number | null; warmMs: number; durationMs: number };
  group: { members: number; devices: number; ladder: Ladder };
  convs: { count: number; devices: number; ladder: Ladder };
  /** A step passes when this share of the expected deliveries arrived… */
  passDelivered: number;
  /** …with p99 at most this (ms): beyond it a queue is building, not a rate sustained. */
  passP99Ms: number;
  drainMs: number;
  hop: { warmMs: number; durationMs: number; window: number; rate: number };
  roundTrips: { pairs: number; rate: number; durationMs: number; idleMs: number };
  recovery: { convs: number; rate: number; beforeMs: number; afterMs: number };
  /**
   * How many times the single-node targets decided by a ratio near its bound (memory per
   * connection, the tail at 5,000/s) are measured, the systems alternating: one run's
   * ratio moved by more than the margin between full runs. 1: only the run's own tables.
   */
  rounds: number;
  /** Idle connections held by a cluster of three (Redis + RabbitMQ); null: not measured. */
  scale: { conns: number } | null;
}

const FULL: Plan = {
  quick: false,
  workers: 3,
  deadlineMs: 60 * 60_000,
  idle: { conns: 15_000, warm: 300, concurrency: 64, settleMs: 3000, runtimes: ["bun", "deno", "node"] },
  latency: { pairs: 100, rates: [1000, 5000, 10_000], floorRate: 100, warmMs: 2000, durationMs: 10_000 },
  group: { members: 100, devices: 2, ladder: { start: 50, factor: 1.5, steps: 13, refine: 2, stepMs: 5000 } },
  convs: { count: 500, devices: 2, ladder: { start: 1000, factor: 1.5, steps: 12, refine: 2, stepMs: 5000 } },
  passDelivered: 0.99,
  passP99Ms: 500,
  drainMs: 3000,
  hop: { warmMs: 2000, durationMs: 10_000, window: 1000, rate: 1000 },
  roundTrips: { pairs: 50, rate: 1000, durationMs: 5000, idleMs: 3000 },
  recovery: { convs: 64, rate: 400, beforeMs: 3000, afterMs: 8000 },
  rounds: 5,
  // 15,000 a node, under the 20,000 descriptors a process may open here.
  scale: { conns: 45_000 },
};

const QUICK: Plan = {
  quick: true,
  workers: 3,
  deadlineMs: 170_000,
  idle: { conns: 600, warm: 60, concurrency: 16, settleMs: 500, runtimes: ["bun", "deno", "node"] },
  latency: { pairs: 50, rates: [5000], floorRate: null, warmMs: 300, durationMs: 1500 },
  group: { members: 100, devices: 2, ladder: { start: 100, factor: 2, steps: 1, stepMs: 1500 } },
  convs: { count: 100, devices: 2, ladder: { start: 1000, factor: 2, steps: 1, stepMs: 1500 } },
  passDelivered: 0.99,
  passP99Ms: 500,
  drainMs: 1500,
  hop: { warmMs: 300, durationMs: 1500, window: 500, rate: 1000 },
  roundTrips: { pairs: 20, rate: 300, durationMs: 1500, idleMs: 1000 },
  recovery: { convs: 32, rate: 200, beforeMs: 800, afterMs: 4500 },
  rounds: 1,
  scale: null,
};

export const planFor = (quick: boolean): Plan => (quick ? QUICK : FULL);
