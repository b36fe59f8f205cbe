/**
 * `npm run bench` — every measurement of docs/benchmarks.md in one run, next to the
 * floor (bare Bun.serve), the ceiling (a raw RabbitMQ hop) and the peer (Socket.IO).
 *
 *   npm run bench                 full run (about 20 min); writes docs/benchmarks.md and
 *                                 its raw results, bench/results/latest.json
 *   npm run bench -- --quick      smoke run, under two minutes; prints the table only
 *   --out FILE / --json FILE      write the report / the raw results there (with --quick too)
 *   --only REGEX                  start only the systems whose name matches (while tuning one
 *                                 path); like --quick, it writes no files unless told to
 *   --phases REGEX                of those, run only the measurements whose name matches
 *   --render FILE.json            measure nothing: rewrite the report from saved results
 *
 * Exits 0 when every measurement completed (whatever the numbers), 1 when something
 * broke or the run passed its deadline. Cluster measurements are skipped, not failed,
 * when Redis or RabbitMQ does not answer. Whatever it started is stopped, and whatever
 * it created in Redis and RabbitMQ is deleted, however it ends.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { loadConfig } from "../src/core/config.ts";
import { amqpProxy, redisProxy } from "./count/proxies.ts";
import { Pool } from "./load/pool.ts";
import { machine } from "./machine.ts";
import { planFor } from "./plan.ts";
import { markdown, type Results, summary } from "./report.ts";
import type { Ctx } from "./scenarios/common.ts";
import { idle } from "./scenarios/idle.ts";
import { latency } from "./scenarios/latency.ts";
import { profile } from "./scenarios/profile.ts";
import { recovery } from "./scenarios/recovery.ts";
import { roundTrips } from "./scenarios/roundtrips.ts";
import { scale } from "./scenarios/scale.ts";
import { aimedSteps, throughput } from "./scenarios/throughput.ts";
import { AMQP_URL, answers, dropNamespaces, REDIS_URL } from "./systems/services.ts";
import { BIN, killAll, ROOT, runToEnd } from "./systems/spawn.ts";
import { bare, bareCluster, bareWs, duplex, socketIo, type Target } from "./systems/targets.ts";
import { aimedRates, bestOf, type Round, TAIL_RATE } from "./lookup.ts";

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? resolve(args[i + 1]) : null;
};
const quick = args.includes("--quick");
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? new RegExp(args[onlyAt + 1] ?? "") : null;
const phasesAt = args.indexOf("--phases");
const phases = phasesAt >= 0 ? new RegExp(args[phasesAt + 1] ?? "") : null;
const partial = quick || only !== null || phases !== null;
const out = option("--out") ?? (partial ? null : join(ROOT, "docs/benchmarks.md"));
const jsonOut = option("--json") ?? (partial ? null : join(ROOT, "bench/results/latest.json"));

const saved = option("--render");
if (saved) {
  const results = JSON.parse(readFileSync(saved, "utf8")) as Results;
  console.log(summary(results));
  writeFileSync(out ?? join(ROOT, "docs/benchmarks.md"), markdown(results));
  process.exit(0);
}

const plan = planFor(quick);
const run = `bench-${crypto.randomUUID().slice(0, 8)}`;
const logDir = mkdtempSync(join(tmpdir(), `duplex-${run}-`));
const namespaces: string[] = [];
const hopQueue = `${run}.hop`;
const started = performance.now();
const say = (line: string) => console.error(line);
const pool = new Pool(plan.workers);

let cleaned: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    pool.stop();
    killAll();
    await dropNamespaces(namespaces, 16, [hopQueue]).catch((err) => say(`bench: cleanup of ${namespaces.join(", ")} failed: ${err}`));
  })();
  return cleaned;
}
const abort = (why: string, code: number) => {
  say(`bench: ${why}; stopping (logs in ${logDir})`);
  void cleanup().finally(() => process.exit(code));
};
const deadline = setTimeout(() => abort(`the deadline of ${plan.deadlineMs / 1000} s passed`, 1), plan.deadlineMs);
process.on("SIGINT", () => abort("interrupted", 130));
process.on("SIGTERM", () => abort("terminated", 143));

const ctx: Ctx = { pool, plan, say };
const results: Results = {
  quick, plan, command: quick ? "npm run bench -- --quick" : "npm run bench", date: new Date().toISOString(), seconds: 0,
  machine: await machine(),
  idle: [], latency: [], throughput: [], hop: null, roundTrips: [], recovery: [], scale: null, profile: null, skipped: [], failures: [],
};

/** Runs one measurement; a failure is recorded and the run goes on with the next. */
async function phase(name: string, fn: () => Promise<void>): Promise<void> {
  if (phases && !/: start$/.test(name) && !phases.test(name)) return;
  say(`▸ ${name}`);
  const t0 = performance.now();
  try {
    await fn();
    say(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    results.failures.push(`${name}: ${message}`);
    say(`  FAILED: ${message}`);
    await pool.closeAll().catch(() => {});
  }
}

/** Starts a system, runs `body` against it, and stops it whatever happens. */
async function on(name: string, make: () => Promise<Target>, body: (t: Target) => Promise<void>): Promise<void> {
  if (only && !only.test(name)) return;
  let t: Target | null = null;
  await phase(`${name}: start`, async () => { t = await make(); });
  if (!t) return;
  try {
    await body(t);
  } finally {
    await (t as Target).stop();
  }
}

/** Idle connections, memory and connect rate; `namespace` names a cluster's Redis keys. */
function idlePhase(t: Target, namespace?: string): Promise<void> {
  return phase(`${t.label}: idle connections`, async () => { results.idle.push(await idle(ctx, t, namespace)); });
}

/**
 * Round n of the single-node measurements whose targets sit close to their bound: every
 * system started afresh, one after the other, so the ratios a target takes are measured
 * minutes apart rather than a whole run apart (lookup.ts `repeated` takes their median).
 */
async function repeatRound(n: number): Promise<void> {
  const round: Round = { idle: [], latency: [] };
  const atTailRate = { ...ctx, plan: { ...plan, latency: { ...plan.latency, rates: [TAIL_RATE] } } };
  const idleAgain = (t: Target) => phase(`${t.label}: idle connections, round ${n}`, async () => { round.idle.push(await idle(ctx, t)); });
  const tailAgain = (t: Target) => phase(`${t.label}: latency at ${TAIL_RATE}/s, round ${n}`, async () => { round.latency.push(...await latency(atTailRate, t)); });
  await on("duplex (bun)", () => duplex({ runtime: "bun", nodes: 1, logDir, namespace: namespace(`bun${n}`) }), async (t) => { await idleAgain(t); await tailAgain(t); });
  await on("bare Bun.serve", () => bare(logDir), async (t) => { await idleAgain(t); await tailAgain(t); });
  await on("duplex (node)", () => duplex({ runtime: "node", nodes: 1, logDir, namespace: namespace(`node${n}`) }), idleAgain);
  await on("bare ws (node)", () => bareWs(logDir), idleAgain);
  await on("Socket.IO", () => socketIo({ nodes: 1, logDir, namespace: namespace(`sio${n}`) }), idleAgain);
  // A run limited by --only may have measured none of them.
  if (round.idle.length > 0 || round.latency.length > 0) (results.rounds ??= []).push(round);
}

/** Latency and both throughput shapes. */
async function traffic(t: Target): Promise<void> {
  await phase(`${t.label}: latency`, async () => { results.latency.push(...await latency(ctx, t)); });
  await phase(`${t.label}: group throughput`, async () => { results.throughput.push(await throughput(ctx, t, "group")); });
  await phase(`${t.label}: conversations throughput`, async () => { results.throughput.push(await throughput(ctx, t, "convs")); });
}

/**
 * Once the peer's ladder is measured: `id` started afresh for a step at exactly each ratio
 * target the ladders left open (lookup.ts aimedRates); nothing starts when none is. With
 * `standsFor`, `id` is a floor tried at the targets that system still misses.
 */
async function aimed(name: string, id: string, make: () => Promise<Target>, standsFor = id): Promise<void> {
  const wanted = (["group", "convs"] as const).map((shape) => ({ shape, rates: aimedRates(results, id, shape, standsFor) })).filter((w) => w.rates.length > 0);
  if (wanted.length === 0) return;
  await on(name, make, async (t) => {
    for (const { shape, rates } of wanted) {
      const what = shape === "group" ? "group" : "conversations";
      await phase(`${t.label}: ${what} throughput at the targets' rates`, async () => { bestOf(results, id, shape)!.steps.push(...await aimedSteps(ctx, t, shape, rates)); });
    }
  });
}

const namespace = (suffix: string) => {
  const ns = `${run}-${suffix}`;
  namespaces.push(ns);
  return ns;
};

try {
  for (const runtime of plan.idle.runtimes) {
    await on(`duplex (${runtime})`, () => duplex({ runtime, nodes: 1, logDir, namespace: namespace(runtime) }), async (t) => {
      await idlePhase(t);
      if (runtime === "bun") await traffic(t);
    });
  }
  // The per-send path's profile, at the rate the unprofiled node sustained (issue 16 asks for it).
  const sustained = bestOf(results, "duplex-bun", "convs")?.best?.rate;
  if (sustained && !plan.quick) {
    const make = (profileDir: string) => duplex({ runtime: "bun", nodes: 1, logDir, namespace: namespace("profiled"), profileDir });
    await phase("duplex (bun): profile of the conversations step", async () => { results.profile = await profile(ctx, make, sustained); });
  }
  await on("bare Bun.serve", () => bare(logDir), async (t) => { await idlePhase(t); await traffic(t); });
  await on("bare Bun.serve, send loop", () => bare(logDir, "loop"), traffic);
  await on("bare ws (node)", () => bareWs(logDir), idlePhase);
  // duplex on Deno serves through Deno's Node compatibility layer: what that layer's socket costs.
  if (plan.idle.runtimes.includes("deno")) await on("bare ws (deno)", () => bareWs(logDir, "deno"), idlePhase);
  await on("Socket.IO", () => socketIo({ nodes: 1, logDir, namespace: namespace("sio") }), async (t) => { await idlePhase(t); await traffic(t); });
  await aimed("duplex (bun)", "duplex-bun", () => duplex({ runtime: "bun", nodes: 1, logDir, namespace: namespace("bun-aimed") }));
  // Where duplex still misses one, whether bare Bun's native publish, doing none of its work, meets it here.
  await aimed("bare Bun.serve", "bare", () => bare(logDir), "duplex-bun");
  for (let n = 2; n <= plan.rounds; n++) await repeatRound(n);

  const redisUp = await answers(REDIS_URL);
  const amqpUp = await answers(AMQP_URL);
  if (!amqpUp) results.skipped.push(`RabbitMQ does not answer at ${AMQP_URL}: the raw hop and the duplex cluster were not measured`);
  if (!redisUp) results.skipped.push(`Redis does not answer at ${REDIS_URL}: no cluster was measured`);

  if (amqpUp && (!only || only.test("raw RabbitMQ hop"))) {
    await phase("raw RabbitMQ hop", async () => {
      const stdout = await runToEnd({
        name: "rabbit-hop", cmd: [`${BIN}/bun`, "run", "bench/baseline/rabbit-hop.ts"], timeoutMs: plan.hop.warmMs + 2 * plan.hop.durationMs + 30_000,
        env: { AMQP_URL, HOP_QUEUE: hopQueue, HOP_WARM_MS: String(plan.hop.warmMs), HOP_MS: String(plan.hop.durationMs), HOP_WINDOW: String(plan.hop.window), HOP_RATE: String(plan.hop.rate) },
      });
      results.hop = JSON.parse(stdout.trim().split("\n").at(-1)!);
    });
  }
  // The cluster's floors: duplex's hops with nothing else, then with the least store, driven by the same clients.
  const floorTraffic = async (t: Target) => {
    await phase(`${t.label}: latency`, async () => { results.latency.push(...await latency(ctx, t)); });
    await phase(`${t.label}: conversations throughput`, async () => { results.throughput.push(await throughput(ctx, t, "convs")); });
  };
  if (amqpUp) await on("bare cluster", () => bareCluster({ nodes: 3, logDir, namespace: namespace("bare"), amqpUrl: AMQP_URL }), floorTraffic);
  if (amqpUp && redisUp) {
    await on("bare cluster with a store", () => bareCluster({ nodes: 3, logDir, namespace: namespace("barestore"), amqpUrl: AMQP_URL, redisUrl: REDIS_URL }), floorTraffic);
  }
  if (redisUp && amqpUp) {
    const ns = namespace("cluster");
    await on("duplex cluster", () => duplex({ runtime: "bun", nodes: 3, logDir, namespace: ns, redisUrl: REDIS_URL, amqpUrl: AMQP_URL }), async (t) => {
      await idlePhase(t, ns);
      await traffic(t);
      await phase(`${t.label}: SIGKILL of a shard owner`, async () => { results.recovery.push(await recovery(ctx, t)); });
    });
    // The same cluster on classic shard queues, latency only: the trade-off docs/09-order.md weighs.
    const classic = namespace("classic");
    await on("duplex cluster, classic shard queues", () => duplex({ runtime: "bun", nodes: 3, logDir, namespace: classic, redisUrl: REDIS_URL, amqpUrl: AMQP_URL, queueType: "classic" }), async (t) => {
      await phase(`${t.label}: latency`, async () => { results.latency.push(...await latency(ctx, t)); });
    });
  }
  if (redisUp && amqpUp && plan.scale) {
    const ns = namespace("scale");
    await on("duplex cluster at scale", () => duplex({ runtime: "bun", nodes: 3, logDir, namespace: ns, redisUrl: REDIS_URL, amqpUrl: AMQP_URL }), async (t) => {
      await phase(`${t.label}: ${plan.scale!.conns.toLocaleString("en-US")} idle connections`, async () => {
        results.scale = await scale(ctx, t, ns, loadConfig({}).heartbeatMs);
      });
    });
  }
  if (redisUp) {
    await on("Socket.IO cluster", () => socketIo({ nodes: 3, logDir, namespace: namespace("siocluster"), redisUrl: REDIS_URL }), traffic);
    if (amqpUp) await aimed("duplex cluster", "duplex-cluster", () => duplex({ runtime: "bun", nodes: 3, logDir, namespace: namespace("cluster-aimed"), redisUrl: REDIS_URL, amqpUrl: AMQP_URL }));
    const redis = await redisProxy(REDIS_URL);
    const amqp = amqpUp ? await amqpProxy(AMQP_URL) : undefined;
    try {
      if (amqp) {
        await on("duplex cluster (counted)", () => duplex({ runtime: "bun", nodes: 3, logDir, namespace: namespace("counted"), redisUrl: redis.url, amqpUrl: amqp.url }), async (t) => {
          await phase(`${t.label}: round trips per message`, async () => { results.roundTrips.push(await roundTrips(ctx, t, { redis, amqp })); });
        });
      }
      await on("Socket.IO cluster (counted)", () => socketIo({ nodes: 3, logDir, namespace: namespace("siocounted"), redisUrl: redis.url }), async (t) => {
        await phase(`${t.label}: round trips per message`, async () => { results.roundTrips.push(await roundTrips(ctx, t, { redis })); });
      });
    } finally {
      redis.close();
      amqp?.close();
    }
  }
} finally {
  clearTimeout(deadline);
  await cleanup();
}

results.seconds = (performance.now() - started) / 1000;
console.log(summary(results));
if (jsonOut) {
  mkdirSync(dirname(jsonOut), { recursive: true });
  writeFileSync(jsonOut, `${JSON.stringify(results, null, 1)}\n`);
}
if (out) {
  writeFileSync(out, markdown(results));
  say(`bench: wrote ${out}`);
}
if (results.failures.length > 0) {
  say(`bench: ${results.failures.length} measurement(s) failed; server logs are in ${logDir}`);
  process.exit(1);
}
rmSync(logDir, { recursive: true, force: true });
process.exit(0);
