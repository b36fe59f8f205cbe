/**
 * A load client process: Node + ws, started by pool.ts as `node --import tsx`. It holds
 * sockets, sends open-loop and records what arrives; commands come one JSON line at a
 * time on stdin (commands.ts). It exits as soon as stdin closes, so it cannot outlive
 * the run that started it. Node's `ws` binds each socket to a source address of its own
 * (BENCH_SOURCES, all 127.0.0.x), which spreads client ports over several addresses.
 */
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { mintToken } from "../../src/http/auth.ts";
import { type Proto, socketUrl, stamp, type Wire, wire } from "./codec.ts";
import type { CollectResult, Command, Conn, OpenResult, Reply, Sender, SendResult } from "./commands.ts";
import { encode, type Histogram, newHistogram, recordMs } from "./hist.ts";

const wall = () => performance.timeOrigin + performance.now();
const sources = (process.env.BENCH_SOURCES ?? "127.0.0.1").split(",");
const workerId = process.env.BENCH_WORKER ?? "0";

interface Sock {
  ws: WebSocket;
  wire: Wire;
  welcomed: boolean;
  leaving: boolean;
}

const sockets = new Map<string, Sock>();
const tallies = new Map<string, { received: number; latency: Histogram }>();
/** Sends waiting for their answer, by message id: called with null (ack) or an error code. */
const waiting = new Map<string, (code: string | null) => void>();
let dropped = 0;
let nextSource = 0;

function tally(tag: string) {
  let t = tallies.get(tag);
  if (!t) tallies.set(tag, (t = { received: 0, latency: newHistogram() }));
  return t;
}

function openSocket(proto: Proto, c: Conn, token: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const who = { user: c.user, device: c.device, token };
    const ws = new WebSocket(socketUrl(proto, c.base, who), {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: timeoutMs,
      localAddress: sources[nextSource++ % sources.length],
    });
    const sock: Sock = { ws, wire: wire(proto, who), welcomed: false, leaving: false };
    const timer = setTimeout(() => fail(new Error(`no welcome within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    ws.on("message", (data) => {
      const f = sock.wire.receive(data.toString(), (frame) => ws.send(frame));
      if (!f) return;
      if (f.kind === "msg") {
        const t = tally(f.g);
        t.received++;
        recordMs(t.latency, wall() - f.t);
      } else if (f.kind === "ack") waiting.get(f.id)?.(null);
      else if (f.kind === "error") {
        if (f.id) waiting.get(f.id)?.(f.code);
        else if (!sock.welcomed) fail(new Error(`refused: ${f.code}`));
      } else if (f.kind === "welcome" && !sock.welcomed) {
        sock.welcomed = true;
        clearTimeout(timer);
        sockets.set(c.key, sock);
        resolve();
      }
    });
    ws.on("error", (err) => { if (!sock.welcomed) fail(err); });
    ws.on("unexpected-response", (_req, res) => fail(new Error(`HTTP ${res.statusCode} instead of an upgrade`)));
    ws.on("close", (code) => {
      if (!sock.welcomed) return fail(new Error(`closed (${code}) before welcome`));
      if (sockets.get(c.key) === sock) sockets.delete(c.key);
      if (!sock.leaving) dropped++;
    });
  });
}

async function open(cmd: Extract<Command, { op: "open" }>): Promise<OpenResult> {
  // Tokens are minted before the clock starts: signing is the load generator's cost.
  const tokens = new Map<string, string>();
  if (cmd.proto !== "bare") {
    for (const c of cmd.conns) if (!tokens.has(c.user)) tokens.set(c.user, await mintToken(c.user, cmd.secret, 6 * 3600));
  }
  const handshake = newHistogram();
  let opened = 0;
  let failed = 0;
  let firstError = "";
  let next = 0;
  const started = wall();
  const lane = async () => {
    while (next < cmd.conns.length) {
      const c = cmd.conns[next++];
      const t0 = wall();
      try {
        await openSocket(cmd.proto, c, tokens.get(c.user) ?? "", cmd.timeoutMs);
        recordMs(handshake, wall() - t0);
        opened++;
      } catch (err) {
        failed++;
        firstError ||= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cmd.concurrency) }, lane));
  return { opened, failed, firstError, ms: wall() - started, handshake: encode(handshake) };
}

function send(cmd: Extract<Command, { op: "send" }>): Promise<SendResult> {
  const total = Math.round((cmd.rate * cmd.durationMs) / 1000);
  const interval = 1000 / cmd.rate;
  const ack = newHistogram();
  const lag = newHistogram();
  const errors: Record<string, number> = {};
  const timeline: [number, number][] | undefined = cmd.timeline ? [] : undefined;
  const ids: string[] = [];
  let acked = 0;
  let answered = 0;
  let i = 0;
  const start = wall();

  const fire = (s: Sender, n: number, intended: number) => {
    const sock = sockets.get(s.key);
    const now = wall();
    recordMs(lag, now - intended);
    timeline?.push([now, 0]);
    if (!sock) {
      errors.closed = (errors.closed ?? 0) + 1;
      answered++;
      if (timeline) timeline[n][1] = -now;
      return;
    }
    const id = `${cmd.tag}.${workerId}.${n}`;
    ids.push(id);
    waiting.set(id, (code) => {
      waiting.delete(id);
      answered++;
      const at = wall();
      if (code === null) {
        acked++;
        recordMs(ack, at - now);
      } else errors[code] = (errors[code] ?? 0) + 1;
      if (timeline) timeline[n][1] = code === null ? at : -at;
    });
    sock.ws.send(sock.wire.send(id, s.conv, stamp(cmd.tag, now)));
  };

  return new Promise((resolve) => {
    const finish = () => {
      let unanswered = 0;
      for (const id of ids) if (waiting.delete(id)) unanswered++;
      resolve({ sent: i, acked, errors, unanswered, ms: wall() - start, ack: encode(ack), lag: encode(lag), timeline });
    };
    const drain = () => {
      const until = wall() + cmd.drainMs;
      const check = () => (answered >= i || wall() > until ? finish() : setTimeout(check, 5));
      check();
    };
    const tick = () => {
      const now = wall();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      while (i < due) fire(cmd.senders[i % cmd.senders.length], i, start + i * interval), i++;
      if (i >= total) return drain();
      setTimeout(tick, Math.max(0, start + i * interval - wall()));
    };
    tick();
  });
}

function collect(cmd: Extract<Command, { op: "collect" }>): CollectResult {
  const tags: CollectResult["tags"] = {};
  for (const tag of cmd.tags) {
    const t = tally(tag);
    tags[tag] = { received: t.received, latency: encode(t.latency) };
    if (cmd.reset) tallies.delete(tag);
  }
  return { tags, dropped };
}

function closeAll(): { closed: number } {
  const n = sockets.size;
  for (const s of sockets.values()) {
    s.leaving = true;
    s.ws.terminate();
  }
  sockets.clear();
  return { closed: n };
}

async function run(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case "open": return open(cmd);
    case "send": return send(cmd);
    case "collect": return collect(cmd);
    case "close": return closeAll();
  }
}

const reply = (r: Reply) => process.stdout.write(`${JSON.stringify(r)}\n`);
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const { n, cmd } = JSON.parse(line) as { n: number; cmd: Command };
    run(cmd).then(
      (result) => reply({ n, ok: true, result }),
      (err) => reply({ n, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  })
  .on("close", () => process.exit(0));
