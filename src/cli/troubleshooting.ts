/**
 * What each error line means and what to do about it. The tables of
 * docs/14-troubleshooting.md are generated from the explanations (explain-node.ts,
 * explain-cli.ts) and from every error line the code can print (error-lines.ts); a test
 * fails when a line has no explanation or an explanation matches no line, so the tables
 * cannot fall behind the code.
 */
import { type ErrorLine, errorLines } from "./error-lines.ts";
import { CLI_EXPLANATIONS } from "./explain-cli.ts";
import { NODE_EXPLANATIONS } from "./explain-node.ts";

export interface Explanation {
  area: Area;
  /** Text found in each message this explains (the first explanation that matches wins). */
  match: string[];
  cause: string;
  fix: string;
}

export const AREAS = {
  start: "Starting a node",
  http: "HTTP requests and the WebSocket upgrade",
  frames: "Frames on an open socket",
  backends: "Store and broker while running",
  cli: "The CLI",
  verify: "verify",
  tools: "Frame decoder and docs tools",
} as const;
export type Area = keyof typeof AREAS;

/** In the order the chapter shows them; the first that matches a line explains it. */
export const EXPLANATIONS: Explanation[] = [...NODE_EXPLANATIONS, ...CLI_EXPLANATIONS];

/** Lines printed by libraries on duplex's behalf, which no scan of src/ finds. */
export const LIBRARY_LINES: ErrorLine[] = [
  { message: "Unknown option '<option>'", kind: "", files: ["node:util parseArgs (the CLI)"] },
  { message: "Option '<option> <value>' argument missing", kind: "", files: ["node:util parseArgs (the CLI)"] },
];

export interface Row extends ErrorLine {
  explanation: Explanation;
}

/** Every error line with its explanation; `unexplained` and `unused` must both be empty. */
export function explain(lines: ErrorLine[] = [...errorLines(ROOT_DIR), ...LIBRARY_LINES]) {
  const rows: Row[] = [];
  const unexplained: ErrorLine[] = [];
  const used = new Set<Explanation>();
  for (const line of lines) {
    const explanation = EXPLANATIONS.find((e) => e.match.some((m) => line.message.includes(m)));
    if (!explanation) unexplained.push(line);
    else {
      used.add(explanation);
      rows.push({ ...line, explanation });
    }
  }
  return { rows, unexplained, unused: EXPLANATIONS.filter((e) => !used.has(e)) };
}

const ROOT_DIR = new URL("../..", import.meta.url).pathname;

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (s: string) => `\`${cell(s).replace(/`/g, "'")}\``;

/** One table per area: the messages an explanation covers share its row. */
export function troubleshootingTables(rows: Row[] = explain().rows): string {
  return (Object.entries(AREAS) as [Area, string][]).map(([area, title]) => {
    const groups = EXPLANATIONS.filter((e) => e.area === area).flatMap((e) => {
      const mine = rows.filter((r) => r.explanation === e);
      if (mine.length === 0) return [];
      const messages = mine.map((r) => `${code(r.message)}${r.kind ? ` (${r.kind})` : ""}`).join("<br>");
      return [`| ${messages} | ${cell(e.cause)} | ${cell(e.fix)} |`];
    });
    return [`### ${title}`, "", "| message | cause | fix |", "| --- | --- | --- |", ...groups].join("\n");
  }).join("\n\n");
}
