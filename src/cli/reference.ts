/**
 * The reference in docs/12-reference.md, rendered from the code so that it cannot drift: one
 * table of every environment variable and CLI flag, from SETTINGS and each command's flags,
 * and the list of commands. test/cli/reference.test.ts fails when the document differs
 * from a fresh render.
 */
import { COMMANDS } from "./commands.ts";
import type { CommandDoc } from "./flags.ts";
import { SETTINGS } from "../core/config.ts";
import { duplexError } from "../core/errors.ts";

/** One row of the reference table. */
export interface Row {
  name: string;
  /** Who reads it: the node, or a CLI command. */
  where: string;
  /** `undefined`: none (the meaning says what happens then). */
  default: string | undefined;
  required?: boolean;
  values: string;
  doc: string;
  guards: string | undefined;
}

/** A generated section of a document: the text between its two markers. */
export interface Section {
  begin: string;
  end: string;
  render(): string;
}

/** Every environment variable a node reads, in SETTINGS order, then every command's flags and variables. */
export function rows(commands: Record<string, CommandDoc> = COMMANDS): Row[] {
  const settings = Object.values(SETTINGS).map((s): Row => ({
    name: s.env, where: "node (env)", default: s.default, values: s.values, doc: s.doc, guards: s.guards,
  }));
  const perCommand = Object.entries(commands).flatMap(([command, c]) => [
    ...Object.values(c.flags).map((f): Row => ({
      name: `--${f.name}${f.arg === undefined ? "" : ` ${f.arg}`}`,
      where: `\`duplex ${command}\``,
      default: f.default,
      required: f.required,
      values: [f.arg === undefined ? "a switch" : f.values ?? "", f.multiple ? "repeatable" : ""].filter(Boolean).join("; "),
      doc: f.doc,
      guards: f.guards,
    })),
    ...(c.env ?? []).map((e): Row => ({
      name: e.env, where: `\`duplex ${command}\` (env)`, default: undefined, values: e.values, doc: e.doc, guards: e.guards,
    })),
  ]);
  return [...settings, ...perCommand];
}

const cell = (s: string) => s.replace(/\|/g, "\\|");
const code = (s: string) => `\`${cell(s)}\``;

/** The Markdown table of `rows`. */
export function referenceTable(list: Row[] = rows()): string {
  const line = (r: Row) => [
    code(r.name), r.where, r.required ? "required" : r.default === undefined ? "unset" : code(r.default),
    cell(r.values) || "—", cell(r.doc), r.guards === undefined ? "—" : cell(r.guards),
  ];
  return [
    "| name | where | default | allowed | meaning | guards against |",
    "| --- | --- | --- | --- | --- | --- |",
    ...list.map((r) => `| ${line(r).join(" | ")} |`),
  ].join("\n");
}

/** Every CLI command: its synopsis and what it does; its flags are in the reference table. */
export function commandList(commands: Record<string, CommandDoc> = COMMANDS): string {
  const line = ([name, c]: [string, CommandDoc]) =>
    `| \`${name}\` | ${code(c.usage)} | ${cell([`${c.summary}.`, ...c.notes ?? []].join(" "))} |`;
  return ["| command | usage | what it does |", "| --- | --- | --- |", ...Object.entries(commands).map(line)].join("\n");
}

export const SECTIONS: Section[] = [
  {
    begin: "<!-- BEGIN reference table: generated from src/core/config.ts and the commands' flags by src/cli/reference.ts -->",
    end: "<!-- END reference table -->",
    render: () => referenceTable(),
  },
  {
    begin: "<!-- BEGIN cli commands: generated from src/cli/commands.ts by src/cli/reference.ts -->",
    end: "<!-- END cli commands -->",
    render: () => commandList(),
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
