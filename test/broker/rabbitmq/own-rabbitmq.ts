/**
 * RabbitMQ brokers of a test's own (see /work/shared/notes/second-rabbitmq-node.md): each
 * its own node name, spare AMQP and distribution ports, and every file in a scratch folder
 * owned by the rabbitmq user, so the machine's shared broker is never touched. A broker
 * runs detached (the Debian wrapper starts it as the rabbitmq user, so the machine's Erlang
 * cookie is shared and brokers of one test can cluster); its folder goes when the test file
 * ends (it must call cleanUpAfterAll), and the broker itself with the test process if that
 * dies first.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, type Result, run, scratchDir, waitForPort } from "../../cli/deploy/support.ts";

export interface OwnRabbit {
  /** name@localhost */
  node: string;
  port: number;
  /** amqp:// URL of this broker for `user` (guest when the config loads no definitions). */
  url(user?: string, password?: string): string;
  /** The Erlang VM's pid, for faults rabbitmqctl cannot make (SIGSTOP). */
  pid(): number;
  /** rabbitmqctl against this broker; throws with its output when it fails. */
  ctl(...args: string[]): Promise<string>;
  /** Stops it (bounded), killing it when it will not stop; harmless when already stopped. */
  stop(): Promise<void>;
}

const running = new Set<number>();
process.on("exit", () => {
  for (const pid of running) signal(pid, "SIGKILL");
});

function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  if (pid <= 0) return false; // 0 would be this process's own group
  try {
    return process.kill(pid, sig);
  } catch {
    return false;
  }
}

/** Spare ports no other broker of this process has been given (freePort alone may repeat). */
const taken = new Set<number>();
async function sparePort(): Promise<number> {
  let port = await freePort();
  while (taken.has(port)) port = await freePort();
  taken.add(port);
  return port;
}

const check = (what: string, r: Result): string => {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r.stdout;
};

/**
 * Boots a broker named `node` (name@localhost) with `conf` as its rabbitmq.conf plus a
 * loopback listener, and resolves once it accepts AMQP connections (within `timeoutMs`).
 */
export async function startRabbit(node: string, conf = "", timeoutMs = 90_000): Promise<OwnRabbit> {
  const [port, dist, dir] = [await sparePort(), await sparePort(), await scratchDir()];
  await writeFile(join(dir, "rabbitmq.conf"), `${conf}\nlisteners.tcp.default = 127.0.0.1:${port}\n`);
  await writeFile(join(dir, "plugins"), "[].\n");
  check("chown", await run("chown", ["-R", "rabbitmq:rabbitmq", dir]));
  const env = {
    ...process.env, RABBITMQ_NODENAME: node, RABBITMQ_NODE_PORT: String(port), RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"), RABBITMQ_LOG_BASE: join(dir, "log"), RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "plugins"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq"), RABBITMQ_PID_FILE: join(dir, "pid"), RABBITMQ_FEATURE_FLAGS_FILE: join(dir, "ff"),
  };
  check(`rabbitmq-server ${node}`, await run("rabbitmq-server", ["-detached"], { env, timeoutMs: 30_000 }));
  let pid = 0;
  const ctl = async (...args: string[]) => check(`rabbitmqctl -n ${node} ${args.join(" ")}`, await run("rabbitmqctl", ["-n", node, ...args], { timeoutMs: 30_000 }));
  const stop = async () => {
    pid ||= beamPid(dir);
    if (!signal(pid, 0)) return;
    await run("rabbitmqctl", ["-n", node, "stop"], { timeoutMs: 30_000 });
    const deadline = Date.now() + 10_000;
    while (signal(pid, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    signal(pid, "SIGKILL");
    running.delete(pid);
  };
  const broker: OwnRabbit = {
    node, port, ctl, stop,
    pid: () => {
      // 0 would signal this process's own group
      if (pid <= 0) throw new Error(`broker ${node} wrote no pid file`);
      return pid;
    },
    url: (user = "guest", password = "guest") => `amqp://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
  };
  try {
    await waitForPort(port, "127.0.0.1", timeoutMs);
    pid = beamPid(dir);
    running.add(pid);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}: broker ${node} did not come up; its log is under ${join(dir, "log")}`);
  }
  return broker;
}

/** The Erlang VM's pid, from the pid file it writes while booting (0 when there is none yet). */
function beamPid(dir: string): number {
  try {
    return Number(readFileSync(join(dir, "pid"), "utf8").trim()) || 0;
  } catch {
    return 0;
  }
}
