/**
 * The docs test: every ```sh runnable block in docs/*.md runs with bash from the repo root
 * against a real dev-mode node, and fails on a non-zero exit or on output that no longer
 * matches the ```text block right after it. docs/README.md states the conventions.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type NodeProc, ROOT, startNode } from "./harness.ts";

const DOCS = join(ROOT, "docs");
const BLOCK_TIMEOUT_MS = 60_000;

interface Block {
  file: string;
  line: number;
  script: string;
  /** The ```text block right after it, if any. */
  expected: string | null;
}

/** Runnable blocks of one Markdown file, with the output each one promises. */
function runnableBlocks(file: string, markdown: string): Block[] {
  const fence = /^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm;
  const fences = [...markdown.matchAll(fence)].map((m) => ({
    info: m[1].trim(), body: m[2], start: m.index!, end: m.index! + m[0].length,
  }));
  const lineOf = (at: number) => markdown.slice(0, at).split("\n").length;
  return fences.flatMap((f, i) => {
    if (!/^(sh|bash)\s+runnable$/.test(f.info)) return [];
    const next = fences[i + 1];
    const adjacent = next && next.info === "text" && markdown.slice(f.end, next.start).trim() === "";
    return [{ file, line: lineOf(f.start), script: f.body, expected: adjacent ? next.body : null }];
  });
}

/**
 * Lines of `expected` missing from `stdout`. Lines must appear in order, each inside one
 * stdout line; a line that is only `...` stands for any lines, and `...` inside a line for
 * any characters.
 */
function missingLines(expected: string, stdout: string): string[] {
  const out = stdout.split("\n");
  let at = 0;
  const missing: string[] = [];
  for (const want of expected.split("\n").map((l) => l.trim()).filter((l) => l !== "" && l !== "...")) {
    const pattern = new RegExp(want.split("...").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*"));
    const found = out.findIndex((l, i) => i >= at && pattern.test(l));
    if (found < 0) missing.push(want);
    else at = found + 1;
  }
  return missing;
}

/** The commands of a line: inline code spans in prose, or the whole line in a code block, split at ; && || | $( and (. */
function commandsIn(line: string): string[] {
  const spans = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
  return [...(spans.length > 0 ? spans : [line])].flatMap((s) => s.split(/;|&&|\|\||\||\$\(|\(/)).map((c) => c.trim()).filter(Boolean);
}

/** True when `command`, after any leading VAR=value assignments, starts with bun, deno or tsx and arguments. */
function bareTool(command: string): boolean {
  return /^(?:[A-Za-z_][A-Za-z0-9_]*=(?:"[^"]*"|'[^']*'|\S*)\s+)*(?:bun|deno|tsx)\s+\S/.test(command.trim());
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** What the block left behind in the reader's shell: exports, traps, jobs. */
  leaks: string[];
  /** Why the block did not run at all (an earlier block of its chapter failed). */
  skipped?: string;
}

/**
 * A reader's terminal: every runnable block of one page, pasted one after another into ONE
 * bash, with a job of the reader's own running in the background. After each block the
 * shell must be as the reader left it (the same exports, no trap, no job of the block's
 * still running, the reader's job alive), or the block fails naming what leaked. `bun`,
 * `deno` and `tsx` are not on PATH, as on a machine that followed the README. The shell
 * runs with -e and pipefail, so a failing command fails its block and ends the page.
 */
class ReaderShell {
  readonly #runs: Promise<Run>[];
  readonly #settle: ((run: Run) => void)[] = [];

  constructor(scripts: string[], env: Record<string, string>, cwd: string, timeoutMs = BLOCK_TIMEOUT_MS) {
    this.#runs = scripts.map(() => new Promise<Run>((done) => this.#settle.push(done)));
    const dir = mkdtempSync(join(tmpdir(), "duplex-docs-"));
    const driver = [
      "set -e -o pipefail",
      // The reader's own background job: no block may kill it.
      "sleep 1000000 & __reader_job=$!",
      // What the shell holds before a block, so that each block answers for its own changes.
      "__snapshot() { __exports=$(export -p); __traps=$(trap -p); __jobs=$(jobs -p); }",
      "__leaks() {",
      "  local now; now=$(export -p)",
      "  [[ $now == \"$__exports\" ]] || echo \"@@leak exports changed: $(diff <(echo \"$__exports\") <(echo \"$now\") | sed -n 's/^[<>] declare -x //p' | tr '\\n' ' ')\"",
      "  now=$(trap -p)",
      "  [[ $now == \"$__traps\" ]] || echo \"@@leak traps changed: $(echo \"$now\" | tr '\\n' ' ')\"",
      "  now=$(jobs -p)",
      "  now=$(echo \"$now\" | grep -vxF -f <(echo \"$__jobs\") | grep . | tr '\\n' ' ' || true)",
      "  [[ -z $now ]] || echo \"@@leak background jobs left running (kill them by PID, then wait): $now\"",
      "  kill -0 \"$__reader_job\" 2>/dev/null || echo '@@leak it killed a background job of the reader'",
      "}",
      ...scripts.flatMap((script, i) => {
        const file = join(dir, `block-${i}.sh`);
        writeFileSync(file, script);
        return [`__snapshot; echo @@start ${i}; echo @@start ${i} >&2`, `. '${file}'`, `echo; echo @@end ${i}; echo @@end ${i} >&2`, "__leaks", `echo @@checked ${i}`];
      }),
      "kill $__reader_job",
    ].join("\n");
    const child = spawn("bash", ["--norc", "--noprofile", "-c", driver], {
      cwd, env: { ...process.env, ...env, PATH: readerPath(dir) }, stdio: ["ignore", "pipe", "pipe"], detached: true,
    });
    let stdout = "", stderr = "", current = -1, timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = new Set<number>();
    const killGroup = () => { try { process.kill(-child.pid!, "SIGKILL"); } catch { /* the group is gone already */ } };
    /** What block i printed on one stream: between its markers, or to the end when it never finished. */
    const between = (text: string, i: number) => {
      const from = text.indexOf(`@@start ${i}\n`);
      if (from < 0) return i === 0 ? text : "";
      const rest = text.slice(from + `@@start ${i}\n`.length);
      const to = rest.indexOf(`@@end ${i}\n`);
      return to < 0 ? rest : rest.slice(0, to);
    };
    const settle = (i: number, run: Omit<Run, "stdout" | "stderr">) => {
      settled.add(i);
      this.#settle[i]({ ...run, stdout: between(stdout, i), stderr: between(stderr, i) });
    };
    const advance = () => {
      for (;;) {
        if (current >= 0 && !settled.has(current)) {
          const checked = stdout.indexOf(`@@checked ${current}\n`);
          if (checked < 0) return;
          clearTimeout(timer);
          const checks = stdout.slice(stdout.indexOf(`@@end ${current}\n`), checked);
          settle(current, { code: 0, timedOut: false, leaks: [...checks.matchAll(/^@@leak (.*)$/gm)].map((m) => m[1]) });
        }
        if (current + 1 >= scripts.length || !stdout.includes(`@@start ${current + 1}\n`)) return;
        current++;
        timer = setTimeout(() => { timedOut = true; killGroup(); }, timeoutMs);
      }
    };
    child.stdout!.on("data", (d: Buffer) => { stdout += d; advance(); });
    child.stderr!.on("data", (d: Buffer) => { stderr += d; });
    child.on("close", (code) => {
      clearTimeout(timer);
      killGroup();
      rmSync(dir, { recursive: true, force: true });
      advance();
      const failed = Math.max(current, 0);
      for (let i = 0; i < scripts.length; i++) {
        if (settled.has(i)) continue;
        if (i === failed) settle(i, { code: code === 0 ? 1 : code, timedOut, leaks: [] });
        else settle(i, { code: null, timedOut: false, leaks: [], skipped: `block ${failed + 1} of this page failed, so the rest did not run` });
      }
    });
  }

  run(i: number): Promise<Run> {
    return this.#runs[i];
  }
}

/** The reader's PATH: no node_modules/.bin (npm scripts add it; a terminal does not), and bun, deno and tsx shadowed. */
function readerPath(dir: string): string {
  const shims = join(dir, "bin");
  mkdirSync(shims);
  for (const tool of ["bun", "deno", "tsx"]) {
    const shim = join(shims, tool);
    writeFileSync(shim, `#!/bin/sh\necho "${tool}: command not found (a reader has node_modules/.bin/${tool}, or an npm script)" >&2\nexit 127\n`);
    chmodSync(shim, 0o755);
  }
  return [shims, ...(process.env.PATH ?? "").split(":").filter((d) => d !== "" && !d.includes("node_modules/.bin"))].join(":");
}

const files = readdirSync(DOCS).filter((f) => f.endsWith(".md")).sort();
const blocks = files.flatMap((f) => runnableBlocks(`docs/${f}`, readFileSync(join(DOCS, f), "utf8")));
/** Every page a reader follows: the tutorial, then the README. */
const pages = [...blocks, ...runnableBlocks("README.md", readFileSync(join(ROOT, "README.md"), "utf8"))];

describe("the docs test's own rules", () => {
  test("finds runnable blocks and the text block that follows each", () => {
    const md = "x\n```sh runnable\necho hi\n```\n\n```text\nhi\n```\n```sh\nnot run\n```\n```sh runnable\ntrue\n```\nprose\n```text\nnot its output\n```\n";
    expect(runnableBlocks("a.md", md)).toEqual([
      { file: "a.md", line: 2, script: "echo hi\n", expected: "hi\n" },
      { file: "a.md", line: 12, script: "true\n", expected: null },
    ]);
  });

  test("matches shown lines in order, with ... as a wildcard line or span", () => {
    const out = 'HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n{"token":"eyJabc"}\n';
    expect(missingLines("HTTP/1.1 101 Switching Protocols\n...\n{\"token\":\"...\"}\n", out)).toEqual([]);
    expect(missingLines("Upgrade: websocket\nHTTP/1.1 101", out)).toEqual(["HTTP/1.1 101"]);
    expect(missingLines("HTTP/1.1 200 OK", out)).toEqual(["HTTP/1.1 200 OK"]);
    expect(missingLines("a.c", "abc")).toEqual(["a.c"]);
  });

  test("runs a page's blocks in one shell and fails a block that leaks into it, or calls a bare bun", async () => {
    const shell = new ReaderShell([
      "x=shared; echo one",
      "echo \"$x\"",
      "export LEAKED=1",
      "trap 'echo bye' EXIT",
      "sleep 100 &",
      "kill -9 $(jobs -p) 2>/dev/null; wait 2>/dev/null || true",
      "bun --version",
      "echo never",
    ], {}, ROOT);
    const runs = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => shell.run(i)));
    expect(runs.slice(0, 2).map((r) => [r.code, r.stdout.trim(), r.leaks])).toEqual([[0, "one", []], [0, "shared", []]]);
    expect(runs[2].leaks).toEqual([expect.stringContaining("exports changed: LEAKED=")]);
    expect(runs[3].leaks).toEqual([expect.stringContaining("traps changed: trap -- 'echo bye' EXIT")]);
    expect(runs[4].leaks).toEqual([expect.stringContaining("background jobs left running")]);
    expect(runs[5].leaks).toEqual(["it killed a background job of the reader"]);
    expect(runs[6].code).toBe(127);
    expect(runs[6].stderr).toContain("bun: command not found");
    expect(runs[7].skipped).toContain("block 7 of this page failed");
  });

  test("gives up on a block that runs too long, and says so", async () => {
    const shell = new ReaderShell(["sleep 1000"], {}, ROOT, 500);
    const run = await shell.run(0);
    expect({ timedOut: run.timedOut, code: run.code === 0 }).toEqual({ timedOut: true, code: false });
  });

  test("no command in the README, CONTRACT or docs calls a bare bun, deno or tsx: a reader has them in node_modules/.bin", () => {
    const bare: string[] = [];
    for (const file of ["README.md", "CONTRACT.md", ...files.map((f) => `docs/${f}`)]) {
      readFileSync(join(ROOT, file), "utf8").split("\n").forEach((line, i) => {
        for (const command of commandsIn(line)) if (bareTool(command)) bare.push(`${file}:${i + 1}: ${command}`);
      });
    }
    expect(bare).toEqual([]);
    const flags = (line: string) => commandsIn(line).some(bareTool);
    expect(["bun run src/cli.ts", "RABBITMQ_PASSWORD=x deno run -A src/main.ts", "cd x && tsx a.ts", "a `$(bun -e 1)` b"].map(flags))
      .toEqual([true, true, true, true]);
    expect(["node_modules/.bin/bun test", "npx tsx src/main.ts", "npm run cli -- token", "the `bun` runtime"].map(flags))
      .toEqual([false, false, false, false]);
  });

  test("docs/bin/wait-for gives up after its bound, in one line naming the URL", () => {
    const started = Date.now();
    const r = spawnSync(join(DOCS, "bin/wait-for"), ["http://127.0.0.1:1/healthz", "1"], { encoding: "utf8" });
    expect({ status: r.status, stderr: r.stderr.trim().split("\n") }).toEqual({
      status: 1, stderr: [expect.stringContaining("http://127.0.0.1:1/healthz did not answer 2xx or 3xx within 1 s (last: no answer)")],
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("every chapter of this tutorial has at least one runnable block", () => {
    // 12 (reference) and 14 (troubleshooting) are tables to look things up in, not chapters to follow.
    const chapters = files.filter((f) => /^(0[1-9]|1[013])-/.test(f));
    expect(chapters).toHaveLength(12);
    for (const chapter of chapters) {
      expect({ chapter, runnable: blocks.some((b) => b.file === `docs/${chapter}`) }).toEqual({ chapter, runnable: true });
    }
  });

  test("every relative link in docs/ points at a file that exists, and at a heading in it", () => {
    const prose = (path: string) => readFileSync(path, "utf8").replace(/^```[\s\S]*?^```/gm, "");
    // GitHub's anchors: the heading in lower case, punctuation dropped, spaces as hyphens.
    const anchors = (md: string) => [...md.matchAll(/^#+ (.*)$/gm)]
      .map(([, h]) => h.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-"));
    const broken: string[] = [];
    for (const f of files) {
      const md = prose(join(DOCS, f));
      for (const [, target] of md.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split("#");
        const file = path === "" ? join(DOCS, f) : resolve(DOCS, dirname(f), path);
        if (!existsSync(file)) broken.push(`docs/${f}: ${target} (no such file)`);
        else if (anchor && file.endsWith(".md") && !anchors(prose(file)).includes(anchor)) broken.push(`docs/${f}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

/**
 * The README's blocks run in a scratch copy of the checkout (every top-level entry linked),
 * so what they write — deploy/, certificates — lands there and not in the repository.
 */
function scratchCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), "duplex-readme-"));
  for (const entry of readdirSync(ROOT)) if (entry !== ".git") symlinkSync(join(ROOT, entry), join(dir, entry));
  return dir;
}

describe("every runnable block in docs/ and the README, one shell per page", () => {
  let node: NodeProc;
  let env: Record<string, string>;
  const shells = new Map<string, ReaderShell>();
  const scratch: string[] = [];
  beforeAll(async () => {
    // The embedded, development-mode node of docs/README.md, whatever this shell exports.
    node = await startNode({ env: { DUPLEX_JWT_SECRET: "", DUPLEX_ENV: "", REDIS_URL: "", AMQP_URL: "" } });
    const res = await fetch(`${node.url}/api/dev/token`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "alice" }),
    });
    const { token } = await res.json() as { token: string };
    env = { DUPLEX_URL: node.url, DUPLEX_WS: node.wsUrl, TOKEN: token };
  });
  afterAll(async () => {
    await node?.kill();
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });
  const shellFor = (file: string) => {
    let shell = shells.get(file);
    if (!shell) {
      const cwd = file === "README.md" ? scratchCheckout() : ROOT;
      if (cwd !== ROOT) scratch.push(cwd);
      shell = new ReaderShell(pages.filter((b) => b.file === file).map((b) => b.script), env, cwd);
      shells.set(file, shell);
    }
    return shell;
  };

  for (const block of pages) {
    const index = pages.filter((b) => b.file === block.file).indexOf(block);
    test(`${block.file}:${block.line} runs${block.expected ? " and prints what the chapter shows" : ""}`, async () => {
      const run = await shellFor(block.file).run(index);
      if (run.skipped) throw new Error(`not run: ${run.skipped}`);
      const report = `--- script\n${block.script}--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
      if (run.timedOut) throw new Error(`timed out after ${BLOCK_TIMEOUT_MS} ms\n${report}`);
      if (run.code !== 0) throw new Error(`exited with ${run.code}\n${report}`);
      if (run.leaks.length > 0) throw new Error(`left the reader's shell changed:\n${run.leaks.join("\n")}\n${report}`);
      const missing = block.expected === null ? [] : missingLines(block.expected, run.stdout);
      if (missing.length > 0) throw new Error(`output lacks:\n${missing.join("\n")}\n${report}`);
    }, BLOCK_TIMEOUT_MS + 10_000);
  }
});
