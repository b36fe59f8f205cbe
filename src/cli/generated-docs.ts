/**
 * Every generated section of docs/, by file: the reference (docs/12), the metrics table
 * (docs/13) and the troubleshooting tables (docs/14). `npm run docs:reference` rewrites
 * them all; the tests fail when a committed file differs from what the code renders.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { metricCatalogue, type MetricDoc } from "../ops/metrics.ts";
import { type Section, SECTIONS, withSection } from "./reference.ts";
import { troubleshootingTables } from "./troubleshooting.ts";

/** The metrics reference: every metric a node exposes, from the registry the node builds. */
export function metricsTable(list: MetricDoc[] = metricCatalogue()): string {
  const labels = (m: MetricDoc) => [...m.labels, "node", "runtime"].map((l) => `\`${l}\``).join(", ");
  return [
    "| metric | type | labels | meaning |",
    "| --- | --- | --- | --- |",
    ...list.map((m) => `| \`${m.name}\` | ${m.type} | ${labels(m)} | ${m.help.replace(/\|/g, "\\|")} |`),
  ].join("\n");
}

export const GENERATED: Record<string, Section[]> = {
  "docs/12-reference.md": SECTIONS,
  "docs/13-production.md": [{
    begin: "<!-- BEGIN metrics table: generated from src/ops/metrics.ts by src/cli/generated-docs.ts -->",
    end: "<!-- END metrics table -->",
    render: () => metricsTable(),
  }],
  "docs/14-troubleshooting.md": [{
    begin: "<!-- BEGIN troubleshooting tables: generated from the error lines in src/ and src/cli/troubleshooting.ts -->",
    end: "<!-- END troubleshooting tables -->",
    render: () => troubleshootingTables(),
  }],
};

/** `markdown` of `file` with its generated sections rendered afresh. */
export const regenerated = (file: string, markdown: string): string => GENERATED[file].reduce(withSection, markdown);

if (import.meta.main) {
  const root = new URL("../..", import.meta.url).pathname;
  for (const file of Object.keys(GENERATED)) {
    const path = join(root, file);
    const before = readFileSync(path, "utf8");
    const after = regenerated(file, before);
    if (after !== before) writeFileSync(path, after);
    process.stdout.write(`${after === before ? "unchanged" : "rewrote"} ${file}\n`);
  }
}
