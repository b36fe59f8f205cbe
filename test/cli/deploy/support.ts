/**
 * Helpers for the generated-configuration tests: golden files, scratch folders, spare ports,
 * certificates, and the real servers (nginx, redis-server) those tests start and always stop.
 */
import { afterAll, expect } from "bun:test";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type NginxFlags, nginxSite, renderNginx } from "../../../src/cli/deploy/nginx.ts";
import { type Rendered, writeRendered } from "../../../src/cli/deploy/render.ts";

export const ROOT = resolve(import.meta.dir, "../../..");
const GOLDEN = resolve(import.meta.dir, "golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

/** Compares with test/cli/deploy/golden/<name>; UPDATE_GOLDEN=1 rewrites the file instead. */
export async function expectGolden(name: string, text: string): Promise<void> {
  const path = join(GOLDEN, name);
  if (UPDATE) {
    await mkdir(GOLDEN, { recursive: true });
    await writeFile(path, text);
    return;
  }
  const golden = await readFile(path, "utf8").catch(() => {
    throw new Error(`no golden file ${path}: run UPDATE_GOLDEN=1 bun test test/cli/deploy, then review the diff`);
  });
  expect(text).toBe(golden);
}

const scratch: string[] = [];
/** Each running server's process group, killed whole: a SIGKILL to nginx's master alone left its workers listening. */
const groups = new Set<number>();
const killGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing is left in the group.
  }
};

/**
 * Call at the top of every test file that uses these helpers: bun evaluates this module once
 * per run, so a hook registered here would only follow the first file that imported it.
 */
export function cleanUpAfterAll(): void {
  afterAll(async () => {
    for (const pid of groups) killGroup(pid, "SIGKILL");
    groups.clear();
    for (const dir of scratch.splice(0)) await rm(dir, { recursive: true, force: true });
  });
}

/**
 * A scratch folder, removed when the file's tests end (see cleanUpAfterAll). Mode 755: nginx workers (user nobody
 * when the tests run as root) and rabbitmqctl (user rabbitmq) must be able to enter it.
 */
export async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "duplex-config-"));
  await chmod(dir, 0o755);
  scratch.push(dir);
  return dir;
}

export async function writeOut(rendered: Rendered): Promise<string> {
  const dir = await scratchDir();
  await writeRendered(dir, rendered);
  return dir;
}

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (bounded by `timeoutMs`). */
export function run(cmd: string, args: string[], options: { env?: Record<string, string | undefined>; timeoutMs?: number; input?: string } = {}): Promise<Result> {
  return new Promise((ok) => {
    const child = execFile(cmd, args, {
      cwd: ROOT, env: options.env ?? process.env, timeout: options.timeoutMs ?? 30_000, encoding: "utf8",
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      ok({ code, stdout, stderr });
    });
    child.stdin?.end(options.input ?? "");
  });
}

/**
 * Starts a long-running server in a process group of its own; the group, whatever the server
 * forked (nginx's workers), is killed when the test file ends (see cleanUpAfterAll).
 */
export function startProcess(cmd: string, args: string[], env?: Record<string, string>): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const pid = child.pid!;
  groups.add(pid);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => { out += d.toString(); });
  child.stderr!.on("data", (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((done) => child.on("exit", () => done()));
  return {
    child,
    output: () => out,
    stop: async () => {
      killGroup(pid, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      killGroup(pid, "SIGKILL");
      groups.delete(pid);
    },
  };
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((ok) => {
      const sock = connect(port, host);
      sock.on("connect", () => { sock.destroy(); ok(true); });
      sock.on("error", () => ok(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

/** A self-signed certificate and key for `domain`, made with openssl. */
export async function selfSigned(dir: string, domain: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = await run("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
    "-subj", `/CN=${domain}`, "-addext", `subjectAltName=DNS:${domain}`,
  ]);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { cert, key };
}

export interface Nginx {
  /** The prefix folder: nginx.conf, conf.d/, logs/. */
  dir: string;
  /** The master's pid, which is also its process group's id (its workers are in it). */
  pid: number;
  httpPort: number;
  httpsPort: number;
  stop(): Promise<void>;
}

/**
 * nginx running the generated complete config for `flags` (on spare ports unless they name
 * theirs), once it accepts connections on each port it serves; killed when the test file ends at the latest.
 */
export async function startNginx(flags: NginxFlags): Promise<Nginx> {
  const httpPort = Number(flags["http-port"] ?? await freePort());
  const httpsPort = Number(flags["https-port"] ?? await freePort());
  const dir = await writeOut(renderNginx(await nginxSite({ ...flags, "http-port": String(httpPort), "https-port": String(httpsPort) }, {})));
  const nginx = startProcess("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", "logs/error.log", "-g", "daemon off;"]);
  try {
    await waitForPort(httpPort);
    if (flags.tls) await waitForPort(httpsPort);
  } catch (err) {
    await nginx.stop();
    throw new Error(`${(err as Error).message}: nginx did not come up:\n${nginx.output()}`);
  }
  return { dir, pid: nginx.child.pid!, httpPort, httpsPort, stop: nginx.stop };
}

/** `nginx -t` on a complete config under `prefix`. */
export function nginxTest(prefix: string, conf = "nginx.conf", asUser?: string): Promise<Result> {
  const args = ["-t", "-p", prefix, "-c", join(prefix, conf), "-e", "logs/error.log"];
  return asUser
    ? run("setpriv", [`--reuid=${asUser}`, `--regid=${asUser === "nobody" ? "nogroup" : asUser}`, "--clear-groups", "nginx", ...args])
    : run("nginx", args);
}
