/**
 * What every generator shares: one eta instance over `templates/` (escaping off: these are
 * config files, not HTML, so every value is validated before it reaches a template instead),
 * the validators that do that, and writing the rendered files to `--out`.
 */
import { access, constants, mkdir, readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Eta } from "eta";
import { decimal, type Setting } from "../../core/config.ts";
import { duplexError } from "../../core/errors.ts";

const eta = new Eta({
  views: fileURLToPath(new URL("../../../templates", import.meta.url)),
  autoEscape: false,
  // Output is whitespace-sensitive text; templates trim control lines themselves with `-%>`.
  autoTrim: false,
  cache: true,
});

/** Renders `templates/<name>` (the name includes `.eta`). */
export function render(name: string, data: object): string {
  return eta.render(name, data);
}

/** A command's output: files by path relative to `--out`, and what it prints without `--out`. */
export interface Rendered {
  files: Record<string, string>;
  /** Empty folders the files expect next to them (nginx's logs/ and temp/). */
  dirs?: string[];
  stdout: string;
  /** Non-zero when the command checked something and it failed (verify). */
  exitCode?: number;
}

/** Writes every file under `out` and returns the paths written. */
export async function writeRendered(out: string, rendered: Rendered): Promise<string[]> {
  const written: string[] = [];
  try {
    for (const dir of rendered.dirs ?? []) await mkdir(join(out, dir), { recursive: true });
    for (const [rel, text] of Object.entries(rendered.files)) {
      const path = join(out, rel);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text);
      written.push(path);
    }
  } catch (err) {
    bad("--out", `cannot write into "${out}": ${(err as Error).message}`);
  }
  return written;
}

/** Throws the one-line refusal the CLI prints: `option` first, then what is wrong with it. */
export function bad(option: string, problem: string): never {
  throw duplexError("bad_request", `${option} ${problem}`);
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A DNS host name (RFC 1123), lower-cased; IP literals are refused (they are not names). */
export function hostname(option: string, raw: string | undefined): string {
  if (raw === undefined || raw === "") bad(option, "is required (a host name such as chat.example.com)");
  const name = raw.toLowerCase();
  const labels = name.split(".");
  const valid = name.length <= 253 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
  if (!valid) bad(option, `must be a host name such as chat.example.com, got "${raw}"`);
  return name;
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port` or `[ipv6]:port`, where host is an IP address or a host name. */
export function hostPort(option: string, raw: string): HostPort {
  const m = raw.match(/^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/);
  const port = m ? Number(m[3]) : 0;
  const host = m ? (m[1] ?? m[2]).toLowerCase() : "";
  const hostOk = m?.[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4 || isHostname(host);
  if (!m || !hostOk || port < 1 || port > 65535) {
    bad(option, `must be host:port (such as 127.0.0.1:8080 or [::1]:8080), got "${raw}"`);
  }
  return { host: m[1] !== undefined ? `[${host}]` : host, port };
}

function isHostname(name: string): boolean {
  try {
    hostname("", name);
    return true;
  } catch {
    return false;
  }
}

/** An integer flag; `fallback` when absent. */
export function integer(option: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  return raw === undefined ? fallback : decimal(option, raw, min, max);
}

export function oneOf<T extends string>(option: string, raw: string | undefined, values: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(values as readonly string[]).includes(raw)) bad(option, `must be one of ${values.join(", ")}, got "${raw}"`);
  return raw as T;
}

/**
 * A flag that overrides a node setting (src/core/config.ts): absent, the setting's own
 * environment variable and default apply; present, the setting's validation does, with the
 * message naming the flag rather than the variable.
 */
export function fromSetting<T>(setting: Setting<T>, option: string, raw: string | undefined, env: Record<string, string | undefined>): T {
  if (raw === undefined) return setting.parse(env[setting.env], env);
  try {
    return setting.parse(raw, {});
  } catch (err) {
    throw duplexError("bad_request", (err as Error).message.replace(setting.env, option));
  }
}

/** Characters that would end, split or expand a value in nginx or redis config syntax. */
const UNSAFE = /[\s"'`;{}#$\\]/;

/** A path written into a config file: made absolute, and free of config syntax. */
export function safePath(option: string, raw: string | undefined): string {
  if (raw === undefined || raw === "") bad(option, "needs a path");
  if (UNSAFE.test(raw)) bad(option, `path must not contain spaces, quotes, ';', '{', '}', '#', '$' or '\\', got "${raw}"`);
  return resolve(raw);
}

/**
 * A readable file holding a PEM block of `pem` (e.g. "CERTIFICATE", "PRIVATE KEY"). A
 * relative path is checked from here and written as given, since nginx reads it relative
 * to its prefix: render from the folder nginx will run in (compose does, with --out .).
 */
export async function pemFile(option: string, raw: string | undefined, pem: string): Promise<string> {
  const path = safePath(option, raw);
  try {
    await access(path, constants.R_OK);
  } catch {
    bad(option, `file "${raw}" does not exist or is not readable`);
  }
  const text = await readFile(path, "utf8").catch(() => "");
  if (!new RegExp(`-----BEGIN [A-Z ]*${pem}-----`).test(text)) bad(option, `file "${raw}" holds no PEM ${pem}`);
  return isAbsolute(raw!) ? path : raw!;
}
