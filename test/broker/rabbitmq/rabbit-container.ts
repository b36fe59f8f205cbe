/**
 * A RabbitMQ broker of a test's own from Testcontainers, where a Docker engine answers and
 * the local stand-in image is built (test/compose-stacks/images.sh; no registry is reachable
 * from the machines this runs on). It offers what startRabbit's process does — the same
 * OwnRabbit — so a test takes whichever the machine has: `ownRabbit()`.
 */
import { spawnSync } from "node:child_process";
import { freePort } from "../../cli/deploy/support.ts";
import { dockerEngine } from "../../services.ts";
import { type OwnRabbit, startRabbit } from "./own-rabbitmq.ts";

export const RABBIT_IMAGE = "duplex-local/rabbitmq:3.10";

/** True when the engine answers and holds the local RabbitMQ image. */
export async function containersAvailable(): Promise<boolean> {
  if (!await dockerEngine()) return false;
  if (spawnSync("docker", ["image", "inspect", RABBIT_IMAGE], { stdio: "ignore" }).status === 0) return true;
  console.log(`rabbit-container: no ${RABBIT_IMAGE} (test/compose-stacks/images.sh builds it), so brokers run as processes`);
  return false;
}

/** A broker in a container, its AMQP port published on a fixed loopback port (a restart keeps it). */
export async function startRabbitContainer(name: string): Promise<OwnRabbit> {
  // Ryuk, the reaper Testcontainers starts beside the first container, is a public image
  // too; the tests stop their containers themselves.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  const { RabbitMQContainer } = await import("@testcontainers/rabbitmq");
  const port = await freePort();
  const container = await new RabbitMQContainer(RABBIT_IMAGE)
    .withExposedPorts({ container: 5672, host: port })
    .withLabels({ "duplex.test": name })
    .start();
  const ctl = async (...args: string[]) => {
    const r = await container.exec(["rabbitmqctl", ...args]);
    if (r.exitCode !== 0) throw new Error(`rabbitmqctl ${args.join(" ")} in ${name} failed (${r.exitCode}): ${r.output}`);
    return r.output;
  };
  let stopped = false;
  return {
    node: name, port, ctl,
    /** The Erlang VM as the host sees it (for SIGSTOP): the container's beam.smp. */
    pid() {
      const top = spawnSync("docker", ["top", container.getId(), "-eo", "pid,comm"], { encoding: "utf8" }).stdout;
      const pid = Number(/^\s*(\d+)\s+beam\.smp/m.exec(top)?.[1]);
      if (!pid) throw new Error(`no beam.smp in container ${name}:\n${top}`);
      return pid;
    },
    url: (user = "guest", password = "guest") => `amqp://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await container.stop({ timeout: 10_000 });
    },
  };
}

/** A broker of the test's own: a container where one can run, else a process (startRabbit). */
export async function ownRabbit(name: string, timeoutMs: number): Promise<OwnRabbit> {
  return await containersAvailable() ? startRabbitContainer(name) : startRabbit(`${name}@localhost`, "", timeoutMs);
}
