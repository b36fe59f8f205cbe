/**
 * Every process the bench starts goes through here, so that every one of them is killed
 * when the run ends, however it ends. Servers write their logs to a file (not a pipe the
 * orchestrator must drain while it measures) and announce themselves with the node's
 * JSON log line `"msg":"listening","url":"http://127.0.0.1:PORT"`.
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listeningPort, ROOT } from "../../test/nodes.ts";

export { BIN, ROOT } from "../../test/nodes.ts";

const live = new Set<ChildProcess>();

/**
 * If this process is itself SIGKILLed, no exit handler runs: a detached shell polls for
 * it once a second and then kills the processes listed in `pidFile` — kept current
 * here, and emptied when they are gone.
 */
const pidFile = join(tmpdir(), `duplex-bench-${process.pid}.pids`);
const listLive = () => writeFileSync(pidFile, [...live].map((c) => c.pid).join(" "));
let reaper = false;

export function track(cmd: string, args: string[], options: SpawnOptions): ChildProcess {
  if (!reaper) {
    reaper = true;
    listLive();
    spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 $(cat "$0") 2>/dev/null; rm -f "$0"`, pidFile], {
      detached: true, stdio: "ignore",
    }).unref();
  }
  const child = spawn(cmd, args, { cwd: ROOT, ...options });
  live.add(child);
  listLive();
  child.on("exit", () => { live.delete(child); listLive(); });
  return child;
}

/** SIGKILLs whatever is still running; safe to call more than once. */
export function killAll(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
  if (reaper) listLive();
}
process.on("exit", killAll);

export interface Server {
  name: string;
  pid: number;
  port: number;
  log: string;
  /** Started with GC_LOG (gc.ts): its log holds JavaScriptCore's collections. */
  gcLogged: boolean;
  exited: Promise<number | null>;
  /** Resolves once the process is gone (SIGKILL after `graceMs`). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Starts a server process and waits for its "listening" line. */
export async function startServer(o: { name: string; cmd: string[]; env: Record<string, string>; log: string; timeoutMs?: number }): Promise<Server> {
  const fd = openSync(o.log, "w");
  const child = track(o.cmd[0], o.cmd.slice(1), { env: { ...process.env, ...o.env }, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  const tail = () => readFileSync(o.log, "utf8").slice(-2000);
  const port = await new Promise<number>((ok, fail) => {
    const until = Date.now() + (o.timeoutMs ?? 30_000);
    const poll = setInterval(() => {
      const listening = listeningPort(readFileSync(o.log, "utf8"));
      if (listening !== undefined) { clearInterval(poll); ok(listening); }
      else if (Date.now() > until) { clearInterval(poll); child.kill("SIGKILL"); fail(new Error(`${o.name} did not start in time:\n${tail()}`)); }
    }, 50);
    void exited.then((code) => { clearInterval(poll); fail(new Error(`${o.name} exited with ${code} before listening:\n${tail()}`)); });
  });
  return {
    name: o.name, pid: child.pid!, port, log: o.log, gcLogged: o.env.BUN_JSC_logGC === "1", exited,
    async stop(signal = "SIGTERM", graceMs = 8000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident memory of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Runs a command to its end and resolves with its stdout; kills it after `timeoutMs`. */
export function runToEnd(o: { name: string; cmd: string[]; env: Record<string, string>; timeoutMs: number }): Promise<string> {
  const child = track(o.cmd[0], o.cmd.slice(1), { env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) ok(stdout);
      else fail(new Error(`${o.name} ended with ${signal ?? code}${signal ? ` (time limit ${o.timeoutMs} ms)` : ""}:\n${stderr}`));
    });
  });
}
