/**
 * Every error line duplex can print, read from its source: the calls that make one
 * (duplexError, the CLI's bad(), verify's check(), new Error, log.warn/log.error ...) with
 * a literal message. Template parts become `<name>` placeholders. The troubleshooting
 * chapter is generated from this list (src/cli/troubleshooting.ts), so a message added
 * anywhere in src/ shows up there, or fails a test until it is explained.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

export interface ErrorLine {
  /** The message with `<name>` where the code fills a value in. */
  message: string;
  /** An error code (CONTRACT §4), `log warn` / `log error`, or "" for a plain Error. */
  kind: string;
  /** Source files that print it, relative to the repository root. */
  files: string[];
}

/** A call that prints or throws a message: which argument is the code, which make up the message. */
interface Maker {
  pattern: RegExp;
  code?: number;
  message: "all" | number;
  kind?: (m: RegExpMatchArray) => string;
}

const MAKERS: Maker[] = [
  { pattern: /(?<![\w$#.])duplexError\(/g, code: 0, message: 1 },
  { pattern: /\bnew (?:FrameError|DuplexError)\(/g, code: 0, message: 1 },
  // The CLI's bad(option, problem) and the local bad(message) helpers all throw bad_request.
  { pattern: /(?<![\w$#.])bad\(/g, message: "all", kind: () => "bad_request" },
  // The broker's unavailable(message): "broker unavailable: <message>".
  { pattern: /(?<![\w$#.])unavailable\(/g, message: 0, kind: () => "unavailable" },
  { pattern: /(?<![\w$#.])check\(/g, message: 1, kind: () => "" },
  { pattern: /(?<![\w$#.])fail\(/g, message: 1, kind: () => "" },
  { pattern: /\bnew Error\(/g, message: 0, kind: () => "" },
  { pattern: /\blog\.(warn|error)\(/g, message: 0, kind: (m) => `log ${m[1]}` },
  // Lines a node prints before its log exists (start-up), as `duplex: <message>`.
  { pattern: /\bconsole\.error\(/g, message: 0, kind: () => "" },
];

/** Source folders whose lines an operator or user of the node and CLI can meet (not the client library or the page). */
const SKIP = new Set(["client", "web"]);

export function sourceFiles(root: string): string[] {
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : walk(join(dir, e.name));
    return e.name.endsWith(".ts") ? [join(dir, e.name)] : [];
  });
  return walk(join(root, "src")).map((f) => relative(root, f)).sort();
}

/** Every error line of the source files under `root`, merged by message, in order of first appearance. */
export function errorLines(root: string): ErrorLine[] {
  const byMessage = new Map<string, ErrorLine>();
  for (const file of sourceFiles(root)) {
    for (const { message, kind } of linesOf(readFileSync(join(root, file), "utf8"))) {
      const seen = byMessage.get(message);
      if (!seen) byMessage.set(message, { message, kind, files: [file] });
      else if (!seen.files.includes(file)) seen.files.push(file);
    }
  }
  return [...byMessage.values()];
}

/** The error lines made in one source text. */
export function linesOf(src: string): { message: string; kind: string }[] {
  const found: { at: number; message: string; kind: string }[] = [];
  for (const maker of MAKERS) {
    for (const m of src.matchAll(maker.pattern)) {
      const args = callArgs(src, m.index! + m[0].length);
      if (!args) continue;
      const chosen = (maker.message === "all" ? args : [args[maker.message]]).filter((a) => a !== undefined);
      const code = maker.code === undefined ? null : valueOf(args[maker.code] ?? "");
      const kind = maker.kind?.(m) ?? (code?.literal ? code.text : "");
      for (const variant of variants(chosen)) {
        const parts = variant.map(valueOf);
        // A message with no literal text is passed through from elsewhere, where it is found.
        if (parts.length === 0 || parts.some((p) => p === null) || !parts.some((p) => p!.literal)) continue;
        found.push({ at: m.index!, message: parts.map((p) => p!.text).join(" "), kind });
      }
    }
  }
  return found.sort((a, b) => a.at - b.at).map(({ message, kind }) => ({ message, kind }));
}

const STRING = String.raw`"(?:[^"\\]|\\.)*"`;
const CHOICE = new RegExp(`^[\\w$.!]+ \\? (${STRING}) : (${STRING})$`);

/** The messages a list of arguments can make: an argument `cond ? "a" : "b"` makes two. */
function variants(args: string[]): string[][] {
  return args.reduce<string[][]>((acc, arg) => {
    const m = arg.match(CHOICE);
    return acc.flatMap((v) => (m ? [[...v, m[1]], [...v, m[2]]] : [[...v, arg]]));
  }, [[]]);
}

/** The arguments of the call whose `(` is just before `from`, as source text; null if it does not close. */
export function callArgs(src: string, from: number): string[] | null {
  const args: string[] = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < src.length;) {
    const c = src[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      if (depth === 0) {
        if (c !== ")") return null;
        const last = src.slice(start, i).trim();
        if (last !== "") args.push(last);
        return args;
      }
      depth--;
    } else if (c === "," && depth === 0) {
      args.push(src.slice(start, i).trim());
      start = i + 1;
    }
    i = skipToken(src, i);
  }
  return null;
}

/** The index after the token at `i`: a whole string, template, regex or comment, else one character. */
function skipToken(src: string, i: number): number {
  const c = src[i];
  if (c === '"' || c === "'") {
    let j = i + 1;
    while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
    return j + 1;
  }
  if (c === "`") return skipTemplate(src, i + 1);
  if (c === "/" && src[i + 1] === "/") return src.indexOf("\n", i) < 0 ? src.length : src.indexOf("\n", i);
  if (c === "/" && src[i + 1] === "*") return src.indexOf("*/", i + 2) + 2;
  if (c === "/" && /[(,=:[!&|?{};+\-*%<>~^]$/.test(src.slice(0, i).trimEnd() || "(")) {
    let j = i + 1;
    let inClass = false;
    while (j < src.length && (src[j] !== "/" || inClass)) {
      if (src[j] === "\\") j++;
      else if (src[j] === "[") inClass = true;
      else if (src[j] === "]") inClass = false;
      j++;
    }
    return j + 1;
  }
  return i + 1;
}

/** The index after the template literal whose body starts at `i` (just past the backtick). */
function skipTemplate(src: string, i: number): number {
  let j = i;
  while (j < src.length && src[j] !== "`") {
    if (src[j] === "\\") j += 2;
    else if (src[j] === "$" && src[j + 1] === "{") j = exprEnd(src, j + 2) + 1;
    else j++;
  }
  return j + 1;
}

/** The index of the `}` that closes the `${` expression starting at `i`. */
function exprEnd(src: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < src.length) {
    const c = src[j];
    if (c === "{") depth++;
    else if (c === "}") {
      if (depth === 0) return j;
      depth--;
    }
    j = skipToken(src, j);
  }
  return j;
}

const unescape = (s: string) => s.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));

/** `<name>` for a value the code fills in: the last name of a plain path, else the name inside a one-argument call. */
function placeholder(expr: string): string {
  const e = expr.trim();
  const path = e.match(/^[\w$#.]+$/) ? e : e.match(/^[\w$.]+\(([\w$#.]+)\)(?:\.[\w$]+)?$/)?.[1];
  return `<${path ? path.split(".").pop()!.replace(/^#/, "") : "…"}>`;
}

/** A literal argument as text (`literal`), a plain name as a placeholder, anything else null. */
function valueOf(arg: string): { text: string; literal: boolean } | null {
  const a = arg.trim();
  const quoted = a.match(/^"((?:[^"\\]|\\.)*)"$/) ?? a.match(/^'((?:[^'\\]|\\.)*)'$/);
  if (quoted) return { text: unescape(quoted[1]), literal: true };
  if (a.startsWith("`") && skipTemplate(a, 1) === a.length) {
    let text = "";
    for (let j = 1; j < a.length - 1;) {
      if (a[j] === "\\") { text += unescape(a.slice(j, j + 2)); j += 2; }
      else if (a[j] === "$" && a[j + 1] === "{") {
        const end = exprEnd(a, j + 2);
        text += placeholder(a.slice(j + 2, end));
        j = end + 1;
      } else text += a[j++];
    }
    // Only placeholders and punctuation (`${option} ${problem}`), perhaps after the "duplex: "
    // or "duplex <command>: " every printed line starts with: a message passed through.
    return { text, literal: /[A-Za-z]/.test(text.replace(/<[^<>\s]+>/g, "").replace(/^duplex(?: \S+)?: /, "")) };
  }
  if (/^[\w$#.]+$/.test(a)) return { text: placeholder(a), literal: false };
  return null;
}

/** A pattern that matches the printed line for `message`: each placeholder stands for any text. */
export function linePattern(message: string): RegExp {
  const parts = message.split(/<[^<>\s]+>/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(parts.join(".*"), "s");
}
