/**
 * CLI flags as data. A command declares each flag once, with its default, the values it
 * accepts and what it guards against; parseArgs' options, `--help` and the reference table
 * (src/cli/reference.ts) are all derived from that, and the helpers below build the check
 * from the same numbers the docs show, so none of them can drift.
 */
import type { ParseArgsConfig } from "node:util";
import type { Setting } from "../core/config.ts";
import { duplexError } from "../core/errors.ts";
import { fromSetting, integer, oneOf } from "./deploy/render.ts";

export interface Flag {
  name: string;
  /** The placeholder after the flag, such as "N" in `--http-port N`; a flag without one is a switch. */
  arg?: string;
  multiple?: true;
  /** Documentation only: the command itself refuses the missing flag, with a hint. */
  required?: true;
  /** As shown; absent: no default, `doc` says what happens without the flag. */
  default?: string;
  /** The values accepted, as shown. */
  values?: string;
  doc: string;
  /** The limit or failure the flag guards against. */
  guards?: string;
}

/** An environment variable a command reads, documented like a flag. */
export interface EnvVar {
  env: string;
  values: string;
  doc: string;
  guards?: string;
}

/** A command as `--help` and the reference describe it; src/cli/commands.ts adds what it runs. */
export interface CommandDoc {
  /** The synopsis `--help` starts with. */
  usage: string;
  /** One line for `duplex --help`. */
  summary: string;
  flags: Record<string, Flag>;
  /** Variables the command reads besides its flags' defaults. */
  env?: EnvVar[];
  /** Lines `--help` ends with. */
  notes?: string[];
}

type About = Pick<Flag, "doc" | "guards" | "required">;

/** A flag whose literal name and shape the types keep, so `Values` can type what parseArgs returns. */
export const flag = <const F extends Flag>(f: F): F => f;

/** An integer flag; without the flag, `fallback` (which may be `undefined`: no limit). */
export function intFlag<const N extends string, D extends number | undefined>(
  name: N, arg: string, min: number, max: number, fallback: D, about: About,
) {
  return {
    name, arg, default: fallback === undefined ? undefined : String(fallback), values: `${min} to ${max}`, ...about,
    parse: (raw: string | undefined): number | D => raw === undefined ? fallback : integer(`--${name}`, raw, min, max, 0),
  };
}

/** A flag that takes one of `choices`, shown as its placeholder. */
export function choiceFlag<const N extends string, const T extends string>(name: N, choices: readonly T[], fallback: T, about: About) {
  return {
    name, arg: choices.join("|"), default: fallback, values: choices.join(", "), ...about,
    parse: (raw: string | undefined): T => oneOf(`--${name}`, raw, choices, fallback),
  };
}

/** A flag that overrides a node setting: its default is the setting's variable, then the setting's default. */
export function settingFlag<const N extends string, T>(name: N, arg: string, setting: Setting<T>, about: About) {
  return {
    name, arg, default: `${setting.env}, else ${setting.default}`, values: setting.values, guards: setting.guards, ...about,
    parse: (raw: string | undefined, env: Record<string, string | undefined>): T => fromSetting(setting, `--${name}`, raw, env),
  };
}

/** The flags of one command, by name. */
export const flags = <const L extends readonly Flag[]>(...list: L): { [F in L[number] as F["name"]]: F } =>
  Object.fromEntries(list.map((f) => [f.name, f])) as { [F in L[number] as F["name"]]: F };

/** What parseArgs returns for `F`: a switch is a boolean, a repeatable flag a list. */
export type Values<F extends Record<string, Flag>> = {
  [K in keyof F]?: F[K] extends { arg: string } ? F[K] extends { multiple: true } ? string[] : string : boolean;
};

/**
 * `args` made safe for parseArgs: a value that starts with "-" (say `--http-port -1`) is
 * joined to its flag as `--http-port=-1`, so that the flag's own check refuses it by name
 * instead of parseArgs calling the argument ambiguous; a flag followed by another flag, or by
 * nothing, is refused as missing its value.
 */
export function joinValues(list: readonly Flag[], args: readonly string[]): string[] {
  const takesValue = new Map(list.filter((f) => f.arg !== undefined).map((f) => [`--${f.name}`, f]));
  const known = new Set([...list.map((f) => `--${f.name}`), "--help"]);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const f = takesValue.get(args[i]);
    if (!f) {
      out.push(args[i]);
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || known.has(next.split("=")[0])) {
      throw duplexError("bad_request", `${args[i]} needs a value (${f.arg})`);
    }
    if (next.startsWith("-")) out.push(`${args[i]}=${next}`);
    else out.push(args[i], next);
    i++;
  }
  return out;
}

/** parseArgs' options for `list`. */
export function parseOptions(list: readonly Flag[]): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries(list.map((f) => [f.name, f.arg === undefined ? { type: "boolean" } : { type: "string", multiple: f.multiple ?? false }]));
}

const COLUMN = 25;
const WIDTH = 100;

/** `text` broken between words into lines of at most `width` characters (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines = [""];
  for (const word of text.split(" ")) {
    const last = lines[lines.length - 1];
    if (last === "") lines[lines.length - 1] = word;
    else if (last.length + 1 + word.length <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

/** `--help`: the synopsis, one entry per flag and variable, then `notes`. */
export function helpText(usage: string, list: readonly Flag[], env: readonly EnvVar[] = [], notes: readonly string[] = []): string {
  const indent = " ".repeat(COLUMN);
  const entry = (left: string, text: string) => {
    const [first, ...rest] = wrap(text, WIDTH - COLUMN);
    const head = left.length < COLUMN - 1 ? [`${left.padEnd(COLUMN)}${first}`] : [left, `${indent}${first}`];
    return [...head, ...rest.map((l) => `${indent}${l}`)].join("\n");
  };
  const lines = list.map((f) => {
    const extra = [
      f.required && "required", f.default !== undefined && `default ${f.default}`, f.values, f.multiple && "repeatable",
    ].filter(Boolean);
    return entry(`  --${f.name}${f.arg === undefined ? "" : ` ${f.arg}`}`, `${f.doc}${extra.length ? ` (${extra.join("; ")})` : ""}`);
  });
  const rest = [...env.map((e) => entry(`  ${e.env}`, `${e.doc} (${e.values})`)), ...notes.flatMap((n) => wrap(n, WIDTH - 2).map((l) => `  ${l}`))];
  return [usage, ...lines, ...rest].join("\n");
}
