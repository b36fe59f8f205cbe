/**
 * The layout's rules, checked with TypeScript's own resolver and checker (the compiler's API,
 * the same program `npm run typecheck` builds), not by reading import lines as text:
 *
 * - each folder of src/ may import only the folders LAYERS allows it, so the core owns its
 *   ports and imports no adapter, and no two folders import each other;
 * - `node:` modules and the globals of one runtime (process, Buffer, Bun, Deno, ...) appear
 *   only where RUNTIME_SPECIFIC allows them: code a Deno or browser user loads has none.
 *
 * A failure names the file, what it imports or uses, and the rule it breaks.
 * docs/architecture.md explains the layers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { relative, resolve } from "node:path";
import { API } from "typescript/unstable/async";
import { type Node, type SourceFile, SyntaxKind } from "typescript/unstable/ast";
import { ROOT } from "./harness.ts";

/**
 * What each folder of src/ may import besides itself. `packages`: which npm packages (`true`:
 * any; a list: those and their subpaths; absent: none, only files of this repository). The
 * entry points src/main.ts and src/cli.ts compose everything and may import anything;
 * nothing imports them.
 */
const LAYERS: Record<string, { imports: string[]; packages?: true | string[] }> = {
  // hono's address parsing is pure Web-standard code (DUPLEX_TRUSTED_PROXIES).
  core: { imports: [], packages: ["hono/utils/ipaddr"] },
  client: { imports: ["core"] },
  http: { imports: ["core"], packages: true },
  redis: { imports: ["core"], packages: true },
  store: { imports: ["core", "redis"], packages: true },
  broker: { imports: ["core", "redis"], packages: true },
  runtime: { imports: ["core", "http"], packages: true },
  ops: { imports: ["core", "http", "runtime"], packages: true },
  cli: { imports: ["core", "http", "runtime", "ops", "broker"], packages: true },
};
const ENTRIES = ["main.ts", "cli.ts"];

/**
 * Where `node:` modules and runtime-specific globals may appear, and why. Everything else is
 * Web-standard TypeScript that Bun, Deno, Node and (for src/client) a browser all run.
 */
const RUNTIME_SPECIFIC: Record<string, string> = {
  "src/runtime/": "the runtime adapters",
  "src/cli/": "the CLI runs as a process and writes files",
  "src/cli.ts": "the CLI's entry point",
  "src/main.ts": "the node's entry point",
  "src/broker/rabbitmq/": "amqplib is a Node library: message bodies are Buffers",
};
/** Globals that one runtime has and the Web platform has not. */
const RUNTIME_GLOBALS = new Set(["process", "Buffer", "Bun", "Deno", "require", "module", "__dirname", "__filename", "global", "setImmediate"]);

interface Edge {
  from: string;
  specifier: string;
  /** The file TypeScript resolved the specifier to, relative to the repo root. */
  to: string;
  /** `import type` / `export type`: gone once the code runs. */
  typeOnly: boolean;
}

const SRC = resolve(ROOT, "src");
const api = new API({ cwd: ROOT });
let edges: Edge[] = [];
/** Runtime-specific globals used outside a `node_modules` declaration: file → names. */
const globalsUsed = new Map<string, string[]>();

beforeAll(async () => {
  const snapshot = await api.updateSnapshot({ openProjects: [resolve(ROOT, "tsconfig.json")] });
  const project = snapshot.getProjects()[0];
  const files = (await project.program.getSourceFileNames()).filter((f) => f.startsWith(`${SRC}/`));
  for (const file of files) {
    const source = await project.program.getSourceFile(file) as SourceFile;
    const at = relative(ROOT, file);
    const targets = await project.checker.getSymbolAtLocation(source.imports);
    source.imports.forEach((node, i) => {
      const to = targets[i]?.declarations[0]?.path;
      const specifier = (node as Node & { text: string }).text;
      edges.push({ from: at, specifier, to: to ? relative(ROOT, to) : `unresolved:${specifier}`, typeOnly: isTypeOnly(node) });
    });
    const candidates: Node[] = [];
    const visit = (node: Node): void => {
      if (node.kind === SyntaxKind.Identifier && RUNTIME_GLOBALS.has((node as Node & { text: string }).text)) candidates.push(node);
      node.forEachChild(visit);
    };
    source.forEachChild(visit);
    if (candidates.length === 0) continue;
    const symbols = await project.checker.getSymbolAtLocation(candidates);
    // A global is declared by a runtime's type package, never by this repository's code.
    const used = candidates.filter((_, i) => symbols[i]?.declarations.some((d) => d.path.includes("/node_modules/")));
    if (used.length > 0) globalsUsed.set(at, [...new Set(used.map((n) => (n as Node & { text: string }).text))]);
  }
}, 60_000);

afterAll(() => api.close());

interface Declaration {
  kind: SyntaxKind;
  isTypeOnly?: boolean;
  importClause?: { isTypeOnly: boolean; name?: unknown; namedBindings?: { elements?: readonly { isTypeOnly: boolean }[] } };
}

/** Whether the import or re-export that holds this module specifier brings in types only. */
function isTypeOnly(specifier: Node): boolean {
  const d = (specifier as Node & { parent?: Declaration }).parent;
  if (d?.kind === SyntaxKind.ExportDeclaration) return d.isTypeOnly === true;
  if (d?.kind !== SyntaxKind.ImportDeclaration || !d.importClause) return false;
  const { isTypeOnly, name, namedBindings } = d.importClause;
  const elements = namedBindings?.elements;
  return isTypeOnly || (!name && !!elements && elements.length > 0 && elements.every((e) => e.isTypeOnly));
}

/** `core` for src/core/hub.ts, `main.ts` for an entry point, undefined outside src/. */
function folderOf(path: string): string | undefined {
  if (!path.startsWith("src/")) return undefined;
  const parts = path.slice(4).split("/");
  return parts.length === 1 ? parts[0] : parts[0];
}

const isPackage = (e: Edge) => e.to.includes("node_modules/") && !e.specifier.startsWith("node:");
const isNodeModule = (e: Edge) => e.specifier.startsWith("node:") || e.to.includes("node_modules/@types/node/");
const mayBeRuntimeSpecific = (file: string) => Object.keys(RUNTIME_SPECIFIC).some((p) => file === p || (p.endsWith("/") && file.startsWith(p)));

test("TypeScript resolved every import of src/ (a broken one would hide a boundary)", () => {
  expect(edges.length).toBeGreaterThan(100);
  expect(edges.filter((e) => e.to.startsWith("unresolved:"))).toEqual([]);
});

test("every folder of src/ imports only the folders its layer allows, and npm packages only where allowed", () => {
  const offences: string[] = [];
  for (const e of edges) {
    const from = folderOf(e.from)!;
    if (ENTRIES.includes(from)) continue;
    const layer = LAYERS[from];
    if (!layer) {
      offences.push(`${e.from}: src/${from}/ has no entry in LAYERS; add one, with the folders it may import`);
      continue;
    }
    if (isNodeModule(e)) continue; // the next test's business
    if (isPackage(e)) {
      const listed = layer.packages === true ? undefined : layer.packages ?? [];
      if (listed && !listed.some((p) => e.specifier === p || e.specifier.startsWith(`${p}/`))) {
        const which = listed.length > 0 ? `only ${listed.map((p) => `"${p}"`).join(", ")}` : "no npm package";
        offences.push(`${e.from} imports the package "${e.specifier}": src/${from}/ imports ${which}`);
      }
      continue;
    }
    const to = folderOf(e.to);
    if (to === undefined) {
      offences.push(`${e.from} imports ${e.to}, outside src/`);
    } else if (ENTRIES.includes(to)) {
      offences.push(`${e.from} imports the entry point ${e.to}`);
    } else if (to !== from && !layer.imports.includes(to)) {
      offences.push(`${e.from} imports ${e.to}: src/${from}/ may import only ${[from, ...layer.imports].map((f) => `src/${f}/`).join(", ")}`);
    }
  }
  expect([...new Set(offences)]).toEqual([]);
});

test("the layers form no cycle: no two folders of src/ import each other, directly or through others", () => {
  const cycles: string[] = [];
  const visit = (folder: string, path: string[]): void => {
    for (const next of LAYERS[folder].imports) {
      if (path.includes(next)) cycles.push([...path, next].join(" → "));
      else visit(next, [...path, next]);
    }
  };
  for (const folder of Object.keys(LAYERS)) visit(folder, [folder]);
  expect(cycles).toEqual([]);
});

test("no file of src/ runs an import of itself through other files (each cycle is named; type-only imports vanish at run time)", () => {
  const next = new Map<string, string[]>();
  for (const e of edges) if (e.to.startsWith("src/") && !e.typeOnly) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const cycles = new Set<string>();
  const done = new Set<string>();
  const visit = (file: string, path: string[]): void => {
    for (const to of next.get(file) ?? []) {
      const at = path.indexOf(to);
      if (at >= 0) cycles.add([...path.slice(at), to].join(" → "));
      else if (!done.has(to)) visit(to, [...path, to]);
    }
    done.add(file);
  };
  for (const file of next.keys()) if (!done.has(file)) visit(file, [file]);
  expect([...cycles]).toEqual([]);
});

test("node: modules and runtime-specific globals appear only in the runtime adapters, the CLI and the entry points", () => {
  const offences: string[] = [];
  for (const e of edges) {
    if (isNodeModule(e) && !mayBeRuntimeSpecific(e.from)) offences.push(`${e.from} imports "${e.specifier}"`);
  }
  for (const [file, names] of globalsUsed) {
    if (!mayBeRuntimeSpecific(file)) offences.push(`${file} uses the runtime global${names.length > 1 ? "s" : ""} ${names.join(", ")}`);
  }
  expect(offences).toEqual([]);
});

test("the checks can fail: the core's imports and globals are seen", () => {
  // Guards the guard: if resolution or the AST walk silently found nothing, every rule would pass.
  expect(edges.some((e) => e.from === "src/core/hub.ts" && e.to === "src/core/ports/broker.ts" && e.typeOnly)).toBe(true);
  expect(edges.some((e) => e.from === "src/main.ts" && e.to === "src/core/hub.ts" && !e.typeOnly)).toBe(true);
  expect(edges.some((e) => e.from === "src/cli/deploy/render.ts" && isNodeModule(e))).toBe(true);
  expect(globalsUsed.get("src/runtime/bun.ts")).toContain("Bun");
  expect(globalsUsed.get("src/broker/rabbitmq/broker.ts")).toContain("Buffer");
});
