/**
 * The load workers, seen from the orchestrator: several Node processes (the machine
 * gives each about 20000 descriptors), each binding its sockets to source addresses of
 * its own. Commands go to all workers at once and their answers are merged here.
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Proto } from "./codec.ts";
import type { CollectResult, Command, Conn, OpenResult, Reply, Sender, SendResult } from "./commands.ts";
import { type Histogram, merge } from "./hist.ts";
import { track } from "../systems/spawn.ts";

/** Source addresses per worker: worker w binds to 127.0.0.(10 + 8w + k). */
const SOURCES_PER_WORKER = 8;

interface Worker {
  child: ChildProcess;
  waiting: Map<number, { ok(v: unknown): void; fail(e: Error): void }>;
  next: number;
}

export interface OpenSummary {
  opened: number;
  failed: number;
  firstError: string;
  /** Wall time of the slowest worker. */
  ms: number;
  handshake: Histogram;
}

export interface SendSummary {
  sent: number;
  acked: number;
  errors: Record<string, number>;
  unanswered: number;
  ms: number;
  ack: Histogram;
  lag: Histogram;
  /** Per worker (empty when it did not send), with `timeline`. */
  timelines: [number, number][][];
}

export class Pool {
  #workers: Worker[];

  constructor(count: number) {
    this.#workers = Array.from({ length: count }, (_, w) => this.#spawn(w));
  }

  get size(): number {
    return this.#workers.length;
  }

  #spawn(w: number): Worker {
    const sources = Array.from({ length: SOURCES_PER_WORKER }, (_, k) => `127.0.0.${10 + SOURCES_PER_WORKER * w + k}`);
    const child = track("node", ["--import", "tsx", "bench/load/worker.ts"], {
      env: { ...process.env, BENCH_WORKER: String(w), BENCH_SOURCES: sources.join(",") },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const worker: Worker = { child, waiting: new Map(), next: 0 };
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const r = JSON.parse(line) as Reply;
      const p = worker.waiting.get(r.n);
      worker.waiting.delete(r.n);
      if (r.ok) p?.ok(r.result);
      else p?.fail(new Error(`load worker ${w}: ${r.error}`));
    });
    child.on("exit", (code) => {
      for (const p of worker.waiting.values()) p.fail(new Error(`load worker ${w} exited with ${code}`));
      worker.waiting.clear();
    });
    return worker;
  }

  /** One command to one worker; rejects after `timeoutMs` so that no phase can hang. */
  call<T>(w: number, cmd: Command, timeoutMs: number): Promise<T> {
    const worker = this.#workers[w];
    const n = worker.next++;
    return new Promise<T>((ok, fail) => {
      const timer = setTimeout(() => {
        worker.waiting.delete(n);
        fail(new Error(`load worker ${w} did not answer "${cmd.op}" within ${timeoutMs} ms`));
      }, timeoutMs);
      worker.waiting.set(n, {
        ok: (v) => { clearTimeout(timer); ok(v as T); },
        fail: (e) => { clearTimeout(timer); fail(e); },
      });
      worker.child.stdin!.write(`${JSON.stringify({ n, cmd })}\n`);
    });
  }

  /** Opens `conns[w]` on worker w, all workers at once. */
  async open(proto: Proto, secret: string, conns: Conn[][], o: { concurrency: number; timeoutMs: number }): Promise<OpenSummary> {
    const budget = o.timeoutMs + 60_000 + conns.flat().length * 10;
    const results = await Promise.all(conns.map((list, w) =>
      this.call<OpenResult>(w, { op: "open", proto, secret, conns: list, concurrency: o.concurrency, timeoutMs: o.timeoutMs }, budget)
    ));
    return {
      opened: sum(results.map((r) => r.opened)),
      failed: sum(results.map((r) => r.failed)),
      firstError: results.map((r) => r.firstError).find(Boolean) ?? "",
      ms: Math.max(...results.map((r) => r.ms)),
      handshake: merge(results.map((r) => r.handshake)),
    };
  }

  /** Sends from `senders[w]` on worker w at `rates[w]` per second, all workers at once. */
  async send(tag: string, senders: Sender[][], rates: number[], o: { durationMs: number; drainMs: number; timeline?: boolean }): Promise<SendSummary> {
    const budget = o.durationMs + o.drainMs + 30_000;
    const active = senders.map((s, w) => ({ s, w })).filter(({ s, w }) => s.length > 0 && rates[w] > 0);
    const results = await Promise.all(active.map(({ s, w }) =>
      this.call<SendResult>(w, { op: "send", tag, senders: s, rate: rates[w], durationMs: o.durationMs, drainMs: o.drainMs, timeline: o.timeline }, budget)
    ));
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      sent: sum(results.map((r) => r.sent)),
      acked: sum(results.map((r) => r.acked)),
      unanswered: sum(results.map((r) => r.unanswered)),
      errors,
      ms: Math.max(...results.map((r) => r.ms)),
      ack: merge(results.map((r) => r.ack)),
      lag: merge(results.map((r) => r.lag)),
      timelines: senders.map((_, w) => results[active.findIndex((a) => a.w === w)]?.timeline ?? []),
    };
  }

  /** Delivered counts and latencies of `tag`, summed over workers. */
  async collect(tag: string, reset = true): Promise<{ received: number; latency: Histogram; dropped: number }> {
    const results = await Promise.all(this.#workers.map((_, w) => this.call<CollectResult>(w, { op: "collect", tags: [tag], reset }, 30_000)));
    return {
      received: sum(results.map((r) => r.tags[tag].received)),
      latency: merge(results.map((r) => r.tags[tag].latency)),
      dropped: sum(results.map((r) => r.dropped)),
    };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#workers.map((_, w) => this.call(w, { op: "close" }, 30_000)));
  }

  /** Closing stdin ends a worker by itself. */
  stop(): void {
    for (const w of this.#workers) w.child.stdin!.end();
  }
}

export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
