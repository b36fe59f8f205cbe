/**
 * One compose stack brought up for real: the reader's file plus an override that only swaps
 * each public image for the local stand-in built by images.sh (no registry is reachable
 * here). Everything runs under a project name of the test's own, so `down -v` and the
 * leftover check cover exactly what the test made.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMPOSE, config, type Services } from "../compose-support.ts";
import { ROOT } from "../harness.ts";

/** The public image a reader pulls → the image images.sh builds from Debian's packages. */
export const LOCAL_IMAGES: Record<string, string> = {
  "redis:7.0.15": "duplex-local/redis:7",
  "rabbitmq:3.10.25-management": "duplex-local/rabbitmq:3.10",
  "nginx:1.22.1": "duplex-local/nginx:1.22",
  "oven/bun:1.4.5": "duplex-local/bun:1",
  "denoland/deno:2.9.6": "duplex-local/deno:2",
  "node:20.20.2-bookworm-slim": "duplex-local/node:20",
};

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (never throws on a non-zero exit). */
export function sh(cmd: string, args: string[], timeoutMs = 300_000): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => { stdout += d; });
    child.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => { clearTimeout(timer); done({ code, stdout, stderr }); });
  });
}

/** Like `sh`, but a non-zero exit is an error carrying the command's output. */
export async function must(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await sh(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true; throws naming `what` after `timeoutMs`. */
export async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export class ComposeStack {
  readonly project: string;
  readonly services: Services;
  private readonly dir = mkdtempSync(join(tmpdir(), "duplex-stack-"));
  private readonly files: string[];
  private gone = false;

  constructor(readonly stack: string) {
    this.project = `duplex-test-${stack}`;
    this.services = config(stack).services;
    const override = { services: Object.fromEntries(Object.entries(this.services).map(([name, s]) => {
      const local = LOCAL_IMAGES[s.image as string];
      if (!local) throw new Error(`${stack}: service ${name} uses ${s.image}, which has no local stand-in in LOCAL_IMAGES`);
      return [name, { image: local }];
    })) };
    // JSON is YAML: docker-compose reads it as an override file.
    const file = join(this.dir, "local-images.yml");
    writeFileSync(file, JSON.stringify(override, null, 2));
    this.files = ["-f", join(COMPOSE, `${stack}.yml`), "-f", file];
  }

  compose(...args: string[]): Promise<string> {
    return must("docker-compose", ["-p", this.project, ...this.files, ...args]);
  }

  /** Services that keep running (one-shots like `deps` are depended on by completion). */
  get longRunning(): string[] {
    const oneShots = new Set(Object.values(this.services).flatMap((s) =>
      Object.entries(s.depends_on ?? {}).flatMap(([n, d]) => (d as { condition?: string }).condition === "service_completed_successfully" ? [n] : [])));
    return Object.keys(this.services).filter((n) => !oneShots.has(n));
  }

  /** The duplex nodes: services that set NODE_ID. */
  get nodes(): string[] {
    return Object.keys(this.services).filter((n) => this.services[n].environment?.NODE_ID);
  }

  async container(service: string): Promise<string> {
    const id = (await this.compose("ps", "-q", service)).trim();
    if (!id) throw new Error(`${this.stack}: no container for ${service}`);
    return id;
  }

  /** Docker's view of a service's healthcheck: healthy, unhealthy, starting — or the container's state. */
  async health(service: string): Promise<string> {
    const out = await must("docker", ["inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}", await this.container(service)]);
    return out.trim();
  }

  /** Resolves once every long-running service's own healthcheck says healthy. */
  async healthy(timeoutMs: number, services = this.longRunning): Promise<void> {
    let last: string[] = [];
    try {
      await until(`${this.stack}: every service healthy`, async () => {
        last = await Promise.all(services.map(async (s) => `${s}=${await this.health(s)}`));
        return last.every((l) => l.endsWith("=healthy"));
      }, timeoutMs, 1000);
    } catch (err) {
      throw new Error(`${(err as Error).message} (last: ${last.join(" ")})\n${await this.logs()}`);
    }
  }

  /** The last lines of every service's log, for a failure message. */
  async logs(lines = 15): Promise<string> {
    return (await sh("docker-compose", ["-p", this.project, ...this.files, "logs", "--no-color", "--tail", String(lines)])).stdout;
  }

  /** A node's /healthz, read inside its container with its own runtime. */
  async nodeHealth(service: string): Promise<{ node: string; ready: boolean; owned: number[] }> {
    const js = "console.log(await (await fetch('http://127.0.0.1:8080/healthz')).text())";
    const runtime = this.services[service].command[0] as string;
    const cmd = runtime === "bun" ? ["bun", "-e", js] : runtime === "deno" ? ["deno", "eval", js] : ["node", "--input-type=module", "-e", js];
    return JSON.parse(await must("docker", ["exec", await this.container(service), ...cmd]));
  }

  /** Everything the project left: containers, networks and named volumes carrying its label. */
  async leftovers(): Promise<string[]> {
    const label = `label=com.docker.compose.project=${this.project}`;
    const list = async (kind: string[]) => (await must("docker", [...kind, "-q", "--filter", label])).split("\n").filter(Boolean);
    return [...await list(["ps", "-a"]), ...await list(["network", "ls"]), ...await list(["volume", "ls"])];
  }

  /** Every volume the project's containers mount, named or anonymous. */
  async volumes(): Promise<string[]> {
    const ids = (await this.compose("ps", "-q", "-a")).split("\n").filter(Boolean);
    if (ids.length === 0) return [];
    const out = await must("docker", ["inspect", "--format", '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}', ...ids]);
    return [...new Set(out.split(/\s+/).filter(Boolean))];
  }

  /** `down -v`, once: later calls do nothing. */
  async down(): Promise<void> {
    if (this.gone) return;
    await this.compose("down", "-v", "--remove-orphans", "--timeout", "20");
    this.gone = true;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
