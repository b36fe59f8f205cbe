import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { metricCatalogue } from "../../src/ops/metrics.ts";
import { GENERATED, metricsTable, regenerated } from "../../src/cli/generated-docs.ts";
import { type NodeProc, ROOT, startNode } from "../harness.ts";

for (const file of Object.keys(GENERATED).filter((f) => f !== "docs/12-reference.md")) {
  test(`${file} shows exactly what the code renders`, () => {
    const doc = readFileSync(resolve(ROOT, file), "utf8");
    if (regenerated(file, doc) !== doc) throw new Error(`${file} is out of date with the code; regenerate it with npm run docs:reference`);
  });
}

test("the metrics table has one row per metric, with its type, labels and meaning", () => {
  const rows = metricsTable().split("\n").slice(2);
  expect(rows).toHaveLength(metricCatalogue().length);
  expect(rows).toContain("| `duplex_errors_total` | counter | `code`, `node`, `runtime` | Refusals by error code: error frames and HTTP error answers |");
  expect(rows.find((r) => r.startsWith("| `duplex_ack_latency_seconds` |"))).toContain("| histogram | `le`, `node`, `runtime` |");
});

let node: NodeProc;
beforeAll(async () => { node = await startNode(); }, 30_000);
afterAll(async () => { await node?.kill(); });

test("the catalogue is what a running node serves on /metrics: the same names and types", async () => {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const served = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name, type }));
  expect(served).toEqual(metricCatalogue().map(({ name, type }) => ({ name, type })));
  expect(text).toContain(`duplex_ready{node="${node.nodeId}",runtime="bun"} 1\n`);
  expect(text).toContain(`duplex_shards{node="${node.nodeId}",runtime="bun"} 16\n`);
});
