/**
 * Black-box test harness: spawn real node processes on any runtime and talk to them
 * over real sockets. Every process a test starts is killed when the test file ends.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect as tcp } from "node:net";
import { mintToken } from "../src/http/auth.ts";
import { openProbe, type Probe } from "../src/ops/probe.ts";
import { listeningPort, NODE_COMMANDS, ROOT, type RuntimeName, untilReady } from "./nodes.ts";

export { ROOT, type RuntimeName, RUNTIMES } from "./nodes.ts";

export interface NodeProc {
  runtime: RuntimeName;
  url: string;
  wsUrl: string;
  port: number;
  nodeId: string;
  secret: string;
  pid: number;
  output(): string;
  /** Sends the signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
// A hook registered here would attach to the first test file only (modules load once per
// run), so the safety net is the exit of the test process; files still stop their nodes.
process.on("exit", () => {
  for (const p of live) signal(p, "SIGKILL");
});

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, sig);
  } catch {
    // Already gone.
  }
}

export function testNamespace(): string {
  return `t-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Starts src/main.ts and resolves once it listens and — unless `waitReady` is false —
 * /healthz says ready (its broker may connect after the node listens).
 */
export async function startNode(options: { runtime?: RuntimeName; env?: Record<string, string>; timeoutMs?: number; waitReady?: boolean } = {}): Promise<NodeProc> {
  const runtime = options.runtime ?? "bun";
  const secret = options.env?.DUPLEX_JWT_SECRET ?? `secret-${crypto.randomUUID()}`;
  const nodeId = options.env?.NODE_ID ?? `${runtime}-${crypto.randomUUID().slice(0, 6)}`;
  const [cmd, ...args] = NODE_COMMANDS[runtime];
  const env: Record<string, string | undefined> = { ...process.env, PORT: "0", DUPLEX_JWT_SECRET: secret, NODE_ID: nodeId, LOG_LEVEL: "info", ...options.env };
  for (const [k, v] of Object.entries(env)) if (v === "") delete env[k];
  // Its own process group: tsx runs the node as a child, and a signal must reach both.
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  live.add(child);
  let out = "";
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => { live.delete(child); done(code); }));
  const port = await new Promise<number>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${runtime} node did not start in time:\n${out}`)), options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const listening = listeningPort(out);
      if (listening !== undefined) { clearTimeout(timer); ok(listening); }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => { out += chunk.toString(); });
    void exited.then((code) => { clearTimeout(timer); fail(new Error(`${runtime} node exited with ${code}:\n${out}`)); });
  });
  let exitCode: number | null | undefined;
  void exited.then((code) => { exitCode = code; });
  if (options.waitReady !== false) {
    await untilReady(port, { timeoutMs: options.timeoutMs ?? 30_000, exited: () => exitCode, context: () => `${runtime} node:\n${out}` });
  }
  return {
    runtime, port, nodeId, secret, pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    output: () => out,
    exited,
    stop: (sig = "SIGTERM") => { signal(child, sig); return exited; },
    kill: async () => { signal(child, "SIGKILL"); await exited; },
  };
}

/** Runs src/main.ts to its exit, for nodes that must refuse to start; killed after `timeoutMs`. */
export function runToExit(runtime: RuntimeName, env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, ...args] = NODE_COMMANDS[runtime];
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  live.add(child);
  let [stdout, stderr] = ["", ""];
  child.stdout!.on("data", (d: Buffer) => { stdout += d; });
  child.stderr!.on("data", (d: Buffer) => { stderr += d; });
  const timer = setTimeout(() => signal(child, "SIGKILL"), timeoutMs);
  return new Promise((done) => child.on("exit", (code) => { clearTimeout(timer); live.delete(child); done({ code, stdout, stderr }); }));
}

/**
 * The server's frames after a raw upgrade, scanned as they arrive; resolves with the close
 * frame's code, or 1006 when the connection ends without one (RFC 6455 §7.1.5).
 */
export async function closeCodeOf(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let buf = new Uint8Array(0);
  let upgraded = false;
  for await (const chunk of chunks) {
    const next = new Uint8Array(buf.length + chunk.length);
    next.set(buf);
    next.set(chunk, buf.length);
    buf = next;
    if (!upgraded) {
      const end = Buffer.from(buf).indexOf("\r\n\r\n");
      if (end < 0) continue;
      upgraded = true;
      buf = buf.slice(end + 4);
    }
    // Whole frames only; the rest waits for more bytes.
    for (;;) {
      if (buf.length < 2) break;
      const short = buf[1] & 0x7f;
      const head = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (buf.length < head) break;
      const len = short === 126 ? (buf[2] << 8) | buf[3] : short === 127 ? Number(new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0)) : short;
      if (buf.length < head + len) break;
      if ((buf[0] & 0x0f) === 8) return len >= 2 ? (buf[head] << 8) | buf[head + 1] : 1005;
      buf = buf.slice(head + len);
    }
  }
  return 1006;
}

export { mintToken };

export type TestClient = Probe;

/** Opens an authenticated socket and waits for `welcome`. */
export async function connect(
  node: Pick<NodeProc, "wsUrl" | "secret">,
  who: { user: string; device?: string; token?: string; headers?: Record<string, string> },
): Promise<TestClient> {
  const token = who.token ?? await mintToken(who.user, node.secret);
  const q = new URLSearchParams({ token });
  if (who.device) q.set("device", who.device);
  // Bun's WebSocket takes extra headers (Origin) as a second-argument option.
  return openProbe(`${node.wsUrl}?${q}`, (url) => new WebSocket(url, { headers: who.headers } as unknown as string[]));
}

/**
 * A raw HTTP upgrade request; the status line and body show what happened before any upgrade.
 * `from` is the loopback address to connect from (any of 127.0.0.0/8 on Linux).
 */
export function rawUpgrade(port: number, path: string, headers: Record<string, string> = {}, from?: string): Promise<{ status: number; body: string }> {
  return rawHttp(port, [
    `GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Upgrade: websocket", "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ], "", from);
}

/** One request written as given (request line and header lines), answered by a 101 or a body of known length. */
export function rawHttp(port: number, head: string[], body = "", from?: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const sock = tcp({ port, host: "127.0.0.1", localAddress: from });
    let data = "";
    sock.on("connect", () => sock.write(`${head.join("\r\n")}\r\n\r\n${body}`));
    sock.on("data", (d) => {
      data += d.toString();
      const status = Number(data.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
      const end = data.indexOf("\r\n\r\n");
      const len = Number(data.match(/content-length: (\d+)/i)?.[1] ?? -1);
      if (status && end >= 0 && (status === 101 || (len >= 0 && data.length >= end + 4 + len))) {
        sock.destroy();
        ok({ status, body: data.slice(end + 4) });
      }
    });
    sock.on("error", fail);
    setTimeout(() => { sock.destroy(); fail(new Error(`no answer to ${head[0]}: ${data}`)); }, 10_000);
  });
}

/** An HTTP call as `user` (a token minted with the node's secret), or with `init.token` as given. */
export async function api(node: Pick<NodeProc, "url" | "secret">, user: string | null, path: string, init: { method?: string; body?: unknown; raw?: string; token?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const token = init.token ?? (user ? await mintToken(user, node.secret) : null);
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(node.url + path, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? "POST" : "GET"),
    headers,
    body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
    // A refused upload is answered before it is fully sent; a pooled connection may then be reset.
    keepalive: false,
  });
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* a non-JSON answer is returned as text */ }
  return { status: res.status, body };
}
