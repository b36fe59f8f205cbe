/**
 * The docs test: every ```sh runnable block in docs/*.md runs with bash from the repo root
 * against a real dev-mode node, and fails on a non-zero exit or on output that no longer
 * matches the ```text block right after it. docs/README.md states the conventions.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
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

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a block in its own process group, so whatever it leaves behind is killed with it. */
function runBlock(script: string, env: Record<string, string>): Promise<Run> {
  return new Promise((done) => {
    const child = spawn("bash", ["-e", "-o", "pipefail", "-c", script], {
      cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true,
    });
    let stdout = "", stderr = "", timedOut = false;
    const killGroup = () => { try { process.kill(-child.pid!, "SIGKILL"); } catch { /* the group is gone already */ } };
    const timer = setTimeout(() => { timedOut = true; killGroup(); }, BLOCK_TIMEOUT_MS);
    child.stdout!.on("data", (d: Buffer) => { stdout += d; });
    child.stderr!.on("data", (d: Buffer) => { stderr += d; });
    child.on("close", (code) => {
      clearTimeout(timer);
      killGroup();
      done({ code, stdout, stderr, timedOut });
    });
  });
}

const files = readdirSync(DOCS).filter((f) => f.endsWith(".md")).sort();
const blocks = files.flatMap((f) => runnableBlocks(`docs/${f}`, readFileSync(join(DOCS, f), "utf8")));

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

describe("every runnable block in docs/", () => {
  let node: NodeProc;
  let env: Record<string, string>;
  beforeAll(async () => {
    // The embedded, development-mode node of docs/README.md, whatever this shell exports.
    node = await startNode({ env: { DUPLEX_JWT_SECRET: "", DUPLEX_ENV: "", REDIS_URL: "", AMQP_URL: "" } });
    const res = await fetch(`${node.url}/api/dev/token`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "alice" }),
    });
    const { token } = await res.json() as { token: string };
    env = { DUPLEX_URL: node.url, DUPLEX_WS: node.wsUrl, TOKEN: token };
  });
  afterAll(async () => { await node?.kill(); });

  for (const block of blocks) {
    test(`${block.file}:${block.line} runs${block.expected ? " and prints what the chapter shows" : ""}`, async () => {
      const run = await runBlock(block.script, env);
      const report = `--- script\n${block.script}--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
      if (run.timedOut) throw new Error(`timed out after ${BLOCK_TIMEOUT_MS} ms\n${report}`);
      if (run.code !== 0) throw new Error(`exited with ${run.code}\n${report}`);
      const missing = block.expected === null ? [] : missingLines(block.expected, run.stdout);
      if (missing.length > 0) throw new Error(`output lacks:\n${missing.join("\n")}\n${report}`);
    }, BLOCK_TIMEOUT_MS + 10_000);
  }
});
