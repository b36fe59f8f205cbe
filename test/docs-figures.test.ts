/**
 * The heartbeat figures are computed once (src/core/heartbeat-figures.ts). These tests hold
 * them to the contract's promise for every allowed interval, and hold the chapters to the
 * figures: each claim below is built from the code, so a changed constant fails here until
 * the docs say the same, and the phrases that drifted before may not come back.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SETTINGS } from "../src/core/config.ts";
import { HEARTBEAT, heartbeatFigures, MIN_HEARTBEAT_MS } from "../src/core/heartbeat-figures.ts";
import { ROOT } from "./harness.ts";

const h = SETTINGS.heartbeatMs.parse(undefined);
const [min, max] = SETTINGS.heartbeatMs.values.split(" to ").map(Number);
const f = heartbeatFigures(h);
const at1s = heartbeatFigures(1000);
const at10s = heartbeatFigures(10_000);
/** Seconds as the docs write them: 37.5, 50. */
const s = (ms: number) => String(ms / 1000);
const x = (ms: number) => String(ms / h);

/** Each chapter's text with line breaks folded, as a reader sees a paragraph. */
const doc = (file: string) => readFileSync(join(ROOT, file), "utf8").replace(/\s+/g, " ");

const CLAIMS: [file: string, phrase: string][] = [
  ["docs/04-heartbeats.md", `shown no sign of life for more than ${HEARTBEAT.silent} *h* is dropped`],
  ["docs/04-heartbeats.md", `first tick after ${HEARTBEAT.silent} *h* of silence, so **at most ${HEARTBEAT.reap} *h* after its last sign of life**`],
  ["docs/04-heartbeats.md", `| who sends protocol pings | the node, every *h* (${s(h)} s) |`],
  ["docs/04-heartbeats.md", `| when a silent peer is dropped | first tick after ${HEARTBEAT.silent} *h* (${s(f.silentMs)} s) of silence: at most ${HEARTBEAT.reap} *h* (${s(f.reapMs)} s) |`],
  ["docs/04-heartbeats.md", `| ${HEARTBEAT.ttl} *h* (${s(f.sessionTtlMs)} s), renewed every *h*/2 (${s(f.renewMs)} s) by its node`],
  ["docs/04-heartbeats.md", `expire within ${HEARTBEAT.ttl} *h* (${s(f.sessionTtlMs)} s) of the node's last renewal; every node sweeps the store every *h*/2, so they are gone within ${x(f.crashedGoneMs)} *h* (${s(f.crashedGoneMs)} s)`],
  ["docs/04-heartbeats.md", `gives up after ${HEARTBEAT.clientSilent} *h* (${s(f.clientGiveUpMs)} s) without any frame`],
  ["docs/04-heartbeats.md", `has arrived for two intervals, it gives the connection up`],
  ["docs/04-heartbeats.md", `after it was opened on every runtime (at most ${s(at1s.reapMs)} s)`],
  ["docs/04-heartbeats.md", `looks online, for up to ${HEARTBEAT.reap} *h*.`],
  ["docs/05-nginx.md", `drops a dead peer within ${HEARTBEAT.reap} intervals (${s(f.reapMs)} seconds by default; the contract promises two)`],
  ["docs/05-nginx.md", `sets both proxy timeouts to ${HEARTBEAT.proxy === 3 ? "three" : HEARTBEAT.proxy} intervals`],
  ["docs/05-nginx.md", `# The WebSocket. The nodes ping every 10000 ms and drop a dead peer within ${at10s.reapMs} ms proxy_read_timeout ${at10s.proxyTimeoutS}s; proxy_send_timeout ${at10s.proxyTimeoutS}s;`],
  ["docs/07-sessions.md", `TTL ${HEARTBEAT.ttl} heartbeat intervals`],
  ["docs/07-sessions.md", `With a heartbeat of 1 second, the record lives ${s(at1s.sessionTtlMs)} seconds unless renewed, so it is gone at most ${s(at1s.sessionTtlMs)} seconds after the last renewal`],
  ["docs/07-sessions.md", `it renews its liveness key and every session it holds for ${HEARTBEAT.ttl} intervals`],
  ["docs/07-sessions.md", `| the node drops the socket within ${HEARTBEAT.reap} h, then removes it |`],
  ["docs/07-sessions.md", `| Redis expires the record within ${HEARTBEAT.ttl} h of the last renewal |`],
  ["docs/07-sessions.md", `may still be listed for up to ${HEARTBEAT.ttl} heartbeat intervals (${s(f.sessionTtlMs)} seconds by default)`],
  ["docs/11-running.md", `at most ${HEARTBEAT.ttl} heartbeat intervals after the node's last renewal, and the other nodes' sweeps remove them within ${x(f.crashedGoneMs)} intervals`],
  ["docs/12-reference.md", `within two heartbeat intervals; in practice within ${HEARTBEAT.reap} on every runtime`],
];

/** What the chapters said before the figures had one source: each contradicts the code. */
const DRIFT: [file: string, phrase: RegExp][] = [
  ["docs/05-nginx.md", /closes a peer that stays silent for two intervals/],
  ["docs/05-nginx.md", /close a peer that stays silent/],
  ["docs/07-sessions.md", /drops the socket within 1\.25 h/],
  ["docs/04-heartbeats.md", /gone at most 0\.6 \*h\* after its last frame/],
  ["docs/04-heartbeats.md", /after 0\.3 \*h\*/],
  // Deno's own idleTimeout reaped peers before Deno nodes served through node:http + ws.
  ["docs/04-heartbeats.md", /idleTimeout`?, 0\.6/],
  ["docs/12-reference.md", /within Deno's `idleTimeout`/],
  ["templates/nginx/site.conf.eta", /silent\s+#?\s*for two intervals/],
];

describe("heartbeat figures", () => {
  test("keep every promise of the contract at every allowed interval", () => {
    expect(min).toBe(MIN_HEARTBEAT_MS);
    const broken: string[] = [];
    for (let ms = min; ms <= max; ms += ms < 10_000 ? 1 : 97) {
      const g = heartbeatFigures(ms);
      if (g.reapMs > g.promiseMs) broken.push(`${ms}: Bun/Node reap ${g.reapMs}`);
      // The TTL is rounded up to a whole ms (PEXPIRE), hence the one ms.
      if (g.crashedGoneMs > g.promiseMs + 1) broken.push(`${ms}: a crashed node's sessions go after ${g.crashedGoneMs}`);
      if (g.proxyTimeoutS * 1000 <= g.reapMs) broken.push(`${ms}: nginx would cut before the node reaps`);
    }
    expect(broken).toEqual([]);
  });

  test("at the least interval the node's timer ticks every 250 ms", () => {
    expect(heartbeatFigures(MIN_HEARTBEAT_MS).tickMs).toBe(250);
  });

  test("the reap bound is the silence limit plus one tick of the node's timer", () => {
    expect(f.reapMs).toBe(f.silentMs + f.tickMs);
    expect(f).toMatchObject({ silentMs: 31_250, reapMs: 37_500, sessionTtlMs: 37_500, renewMs: 12_500, crashedGoneMs: 50_000, proxyTimeoutS: 75 });
  });

  test("the chapters quote the figures the code computes", () => {
    const missing = CLAIMS.filter(([file, phrase]) => !doc(file).includes(phrase)).map(([file, phrase]) => `${file}: ${phrase}`);
    expect(missing).toEqual([]);
    const drifted = DRIFT.filter(([file, re]) => re.test(doc(file))).map(([file, re]) => `${file}: ${re}`);
    expect(drifted).toEqual([]);
  });
});
