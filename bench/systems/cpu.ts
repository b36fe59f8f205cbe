/**
 * Where the machine's CPU went during a measured step: the system's own server processes,
 * the shared RabbitMQ and Redis (found by name in /proc), and the whole machine (/proc/stat),
 * in cores. On a shared two-core box a pipeline that is short of CPU waits, and its
 * latency says so only together with these figures.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface CpuUse {
  /** The system's own server processes (the duplex nodes). */
  servers: number;
  rabbitmq: number | null;
  redis: number | null;
  /** Everything on the machine, user + system + interrupts. */
  machine: number;
  /**
   * The servers' main threads (a JavaScript server's event loop), summed: the time they ran
   * and the time they were ready to run but waited for a core, per second of the step. The
   * rest of `servers` is their other threads (JIT compilers, the collector's helpers). Null
   * where the kernel keeps no schedstat; absent from results measured before it was read.
   */
  mainThread?: ThreadTime | null;
}

/** A thread's time on a core and its time ready to run but waiting for one. */
export interface ThreadTime {
  running: number;
  waiting: number;
}

/** Clock ticks per second in /proc (USER_HZ, 100 on Linux). */
const TICK = 100;

/** CPU time a process has used, user + system, in seconds. */
function cpuSeconds(pid: number): number {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

/**
 * A process's main thread: seconds on a core and seconds runnable but waiting for one
 * (/proc/PID/task/PID/schedstat, in nanoseconds); null where the kernel does not keep it.
 */
function mainThreadSeconds(pid: number): ThreadTime | null {
  try {
    const [running, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ").map(Number);
    return Number.isFinite(running) && Number.isFinite(waiting) ? { running: running / 1e9, waiting: waiting / 1e9 } : null;
  } catch {
    return null;
  }
}

function mainThreads(pids: number[]): ThreadTime | null {
  let running = 0;
  let waiting = 0;
  for (const pid of pids) {
    const t = mainThreadSeconds(pid);
    if (!t) return null;
    running += t.running;
    waiting += t.waiting;
  }
  return { running, waiting };
}

/** Pids whose command name is `comm` (beam.smp, redis-server); empty when none is visible. */
function pidsOf(comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) out.push(Number(entry));
    } catch {
      // It ended between the listing and the read.
    }
  }
  return out;
}

/** Busy CPU-seconds of the whole machine since boot: every field of /proc/stat's cpu line but idle and iowait. */
function machineSeconds(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + steal) / TICK;
}

const sum = (pids: number[]) => pids.reduce((s, pid) => {
  try {
    return s + cpuSeconds(pid);
  } catch {
    return s;
  }
}, 0);

/** Starts counting; the returned function gives the cores used since, per consumer. */
export function cpuMeter(serverPids: number[]): () => CpuUse {
  const rabbit = pidsOf("beam.smp");
  const redis = pidsOf("redis-server");
  const t0 = performance.now();
  const start = { servers: sum(serverPids), rabbitmq: sum(rabbit), redis: sum(redis), machine: machineSeconds(), main: mainThreads(serverPids) };
  return () => {
    const s = (performance.now() - t0) / 1000;
    const main = mainThreads(serverPids);
    return {
      mainThread: main && start.main ? { running: (main.running - start.main.running) / s, waiting: (main.waiting - start.main.waiting) / s } : null,
      servers: (sum(serverPids) - start.servers) / s,
      rabbitmq: rabbit.length ? (sum(rabbit) - start.rabbitmq) / s : null,
      redis: redis.length ? (sum(redis) - start.redis) / s : null,
      machine: (machineSeconds() - start.machine) / s,
    };
  };
}
