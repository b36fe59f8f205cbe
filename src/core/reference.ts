/**
 * The configuration reference, rendered from SETTINGS so that docs/12-reference.md cannot
 * drift from the code: test/core/reference.test.ts fails when the two differ.
 */
import { SETTINGS } from "./config.ts";
import { duplexError } from "./errors.ts";

interface Documented {
  env: string;
  default: string | undefined;
  doc: string;
}

const BEGIN = "<!-- BEGIN config table: generated from src/core/config.ts by src/core/reference.ts -->";
const END = "<!-- END config table -->";

/** The Markdown table of every environment variable a node reads, in SETTINGS order. */
export function configTable(settings: Record<string, Documented> = SETTINGS): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const rows = Object.values(settings).map((s) =>
    `| \`${s.env}\` | ${s.default === undefined ? "unset" : `\`${cell(s.default)}\``} | ${cell(s.doc)} |`
  );
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

/** `markdown` with the text between the config-table markers replaced by a fresh render. */
export function withConfigTable(markdown: string, settings: Record<string, Documented> = SETTINGS): string {
  const start = markdown.indexOf(BEGIN);
  const end = markdown.indexOf(END);
  if (start < 0 || end < start) throw duplexError("bad_request", `the document has no "${BEGIN}" ... "${END}" section`);
  return `${markdown.slice(0, start + BEGIN.length)}\n${configTable(settings)}\n${markdown.slice(end)}`;
}
