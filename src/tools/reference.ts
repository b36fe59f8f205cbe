/**
 * The reference in docs/12-reference.md, rendered from the code so that it cannot drift:
 * the configuration table from SETTINGS, the CLI from each command's own help text.
 * test/tools/reference.test.ts fails when the document differs from a fresh render.
 */
import { SETTINGS } from "../core/config.ts";
import { duplexError } from "../core/errors.ts";
import { COMMANDS } from "../commands.ts";

interface Documented {
  env: string;
  default: string | undefined;
  doc: string;
}

/** A generated section of a document: the text between its two markers. */
export interface Section {
  begin: string;
  end: string;
  render(): string;
}

/** The Markdown table of every environment variable a node reads, in SETTINGS order. */
export function configTable(settings: Record<string, Documented> = SETTINGS): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const rows = Object.values(settings).map((s) =>
    `| \`${s.env}\` | ${s.default === undefined ? "unset" : `\`${cell(s.default)}\``} | ${cell(s.doc)} |`
  );
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

/** Every CLI command with its flags, as `--help` prints them. */
export function cliReference(commands: Record<string, { help: string }> = COMMANDS): string {
  return Object.entries(commands).map(([name, c]) => `### \`${name}\`\n\n\`\`\`text\n${c.help}\n\`\`\``).join("\n\n");
}

export const SECTIONS: Section[] = [
  {
    begin: "<!-- BEGIN config table: generated from src/core/config.ts by src/tools/reference.ts -->",
    end: "<!-- END config table -->",
    render: () => configTable(),
  },
  {
    begin: "<!-- BEGIN cli reference: generated from src/commands.ts by src/tools/reference.ts -->",
    end: "<!-- END cli reference -->",
    render: () => cliReference(),
  },
];

/** `markdown` with the text between a section's markers replaced by a fresh render. */
export function withSection(markdown: string, section: Section): string {
  const start = markdown.indexOf(section.begin);
  const end = markdown.indexOf(section.end);
  if (start < 0 || end < start) throw duplexError("bad_request", `the document has no "${section.begin}" ... "${section.end}" section`);
  return `${markdown.slice(0, start + section.begin.length)}\n${section.render()}\n${markdown.slice(end)}`;
}

/** Every generated section of the reference, rendered afresh. */
export const withReference = (markdown: string): string => SECTIONS.reduce(withSection, markdown);
