/**
 * Protocol v1 frames (CONTRACT §4): their types, and the one parser that turns a client's
 * text into a typed frame or a DuplexError naming the field at fault.
 */
import { DuplexError, duplexError, type ErrorCode } from "./errors.ts";
import type { StoredMessage } from "./ports/store.ts";

export type ClientFrame =
  | { type: "send"; id: string; conv: string; body: unknown }
  | { type: "sync"; conv: string; after: number; id?: string }
  | { type: "read"; conv: string; seq: number; id?: string }
  | { type: "ping"; ts?: number; id?: string };

export type ServerFrame =
  | { type: "welcome"; session: string; user: string; device: string; node: string; heartbeat: number }
  | { type: "ack"; id: string; conv: string; seq: number }
  | ({ type: "msg" } & StoredMessage)
  | { type: "synced"; conv: string; seq: number }
  | { type: "read"; conv: string; seq: number; user: string; device: string }
  | { type: "pong"; ts?: number }
  | { type: "error"; code: ErrorCode; message: string; id?: string };

/** A refused frame, carrying the frame's own `id` (when it had a string one) for the reply. */
export class FrameError extends DuplexError {
  readonly id: string | undefined;
  constructor(code: ErrorCode, message: string, id: string | undefined) {
    super(code, message);
    this.id = id;
  }
}

/** The longest id, in characters (Unicode code points). */
export const MAX_ID = 128;
/** The most members a conversation may have (CONTRACT §2). */
export const MAX_MEMBERS = 1000;
/** What every id must be, as messages state it. */
export const ID_RULE = `a string of 1 to ${MAX_ID} characters, well-formed Unicode (no lone surrogates)`;
/** DUPLEX_MAX_BODY_DEPTH's default: JSON documents of applications rarely nest past a dozen levels. */
export const DEFAULT_MAX_BODY_DEPTH = 32;

/**
 * The one rule for every id a client gives (user, device, conversation, message ids). A
 * lone surrogate has no UTF-8 form: Redis would store every one of them as U+FFFD, so
 * "\ud800x" and "\udbffx" would share keys. Length counts code points, so 128 emoji fit.
 */
export function isId(v: unknown): v is string {
  if (typeof v !== "string" || v.length === 0 || v.length > 2 * MAX_ID || !v.isWellFormed()) return false;
  if (v.length <= MAX_ID) return true;
  let chars = 0;
  for (const _ of v) chars++;
  return chars <= MAX_ID;
}

function seqLike(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Whether arrays and objects nest more than `limit` levels in `value` (a scalar is 0 deep,
 * `[1]` 1, `{"a":[1]}` 2). Walks with a stack of its own, not by recursion, so no depth of
 * input can exhaust the call stack here; it stops at the first value past the limit.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== "object" || value === null) return false;
  // Most bodies are flat: every send passes here, and a flat one builds none of the walk's arrays.
  if (limit > 0 && !holdsContainer(value)) return false;
  // Objects still to look into, and each one's depth at the same index: no pair per value.
  const objects: object[] = [value];
  const depths: number[] = [0];
  while (objects.length > 0) {
    const v = objects.pop()!;
    const depth = depths.pop()!;
    if (depth === limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) {
        objects.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** Whether an array's items or an object's own values include an array or object. */
function holdsContainer(v: object): boolean {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (typeof v[i] === "object" && v[i] !== null) return true;
    return false;
  }
  for (const key in v) {
    const child = (v as Record<string, unknown>)[key];
    if (typeof child === "object" && child !== null) return true;
  }
  return false;
}

/**
 * Parses one text frame. Throws FrameError("bad_request") for anything off-protocol,
 * including a `body` nested more than `maxBodyDepth` levels: JSON.stringify recurses, and a
 * body deep enough would overflow the stack of whichever node encodes it (Node's at a few
 * thousand levels, Bun's at tens of thousands).
 */
export function parseClientFrame(text: string, maxBodyDepth = DEFAULT_MAX_BODY_DEPTH): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FrameError("bad_request", "frame is not valid JSON", undefined);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FrameError("bad_request", "frame must be a JSON object", undefined);
  }
  // Every frame passes here: the checks build no closures, and a message only once it is needed.
  const f = value as Record<string, unknown>;
  switch (f.type) {
    case "send":
      if (!isId(f.id)) throw refused(f, "id", ID_RULE);
      if (!isId(f.conv)) throw refused(f, "conv", ID_RULE);
      if (f.body === undefined) throw refused(f, "body", "present (any JSON value)");
      if (nestsDeeperThan(f.body, maxBodyDepth)) throw refused(f, "body", `nested at most ${maxBodyDepth} levels deep (DUPLEX_MAX_BODY_DEPTH)`);
      return { type: "send", id: f.id, conv: f.conv, body: f.body };
    case "sync":
      if (!isId(f.conv)) throw refused(f, "conv", ID_RULE);
      if (!seqLike(f.after)) throw refused(f, "after", SEQ);
      return { type: "sync", conv: f.conv, after: f.after, id: optionalId(f) };
    case "read":
      if (!isId(f.conv)) throw refused(f, "conv", ID_RULE);
      if (!seqLike(f.seq)) throw refused(f, "seq", SEQ);
      return { type: "read", conv: f.conv, seq: f.seq, id: optionalId(f) };
    case "ping":
      if (f.ts !== undefined && !(typeof f.ts === "number" && Number.isFinite(f.ts))) throw refused(f, "ts", "a number");
      return { type: "ping", ts: f.ts, id: optionalId(f) };
    case undefined:
      throw new FrameError("bad_request", 'field "type" is missing', frameId(f));
    default:
      throw new FrameError("bad_request", `unknown frame type ${JSON.stringify(String(f.type)).slice(0, 80)}`, frameId(f));
  }
}

const SEQ = "a non-negative integer";

/** The frame's own id, when it has a string one: the refusal answers it. */
const frameId = (f: Record<string, unknown>) => (typeof f.id === "string" ? f.id : undefined);

const refused = (f: Record<string, unknown>, field: string, what: string) =>
  new FrameError("bad_request", `field "${field}" must be ${what}`, frameId(f));

function optionalId(f: Record<string, unknown>): string | undefined {
  if (f.id !== undefined && !isId(f.id)) throw refused(f, "id", ID_RULE);
  return f.id;
}

/**
 * Closes a switch over frame types: a type added to ClientFrame or ServerFrame and not
 * handled before it makes this call a compile error. At run time it does nothing, so a
 * client ignores a frame type that a newer server sends.
 */
export function handledAll(_frame: never): void {}

export function errorFrame(err: DuplexError, id?: string): ServerFrame {
  const frame: ServerFrame = { type: "error", code: err.code, message: err.message };
  const replyId = id ?? (err instanceof FrameError ? err.id : undefined);
  if (replyId !== undefined) frame.id = replyId;
  return frame;
}

/** JSON text of `value`, or null where JSON.stringify throws (nesting past the runtime's stack). */
export function jsonOrNull(value: unknown): string | null {
  try {
    return JSON.stringify(value);
  } catch {
    return null;
  }
}

/**
 * The frame's text, or null when it cannot be made: a body nested past what the runtime's
 * stack allows (stored before the depth limit, or by a node with a higher one). Callers
 * skip such a frame, logged and counted; an exception here would end the process.
 */
export const encode = (frame: ServerFrame): string | null => jsonOrNull(frame);

/**
 * A stored message as a `msg` frame, its fields in CONTRACT §4's order. Built field by field:
 * a spread copies through the runtime's generic path, once per delivered message.
 */
export const msgFrame = (m: StoredMessage): ServerFrame =>
  ({ type: "msg", conv: m.conv, seq: m.seq, id: m.id, from: m.from, body: m.body, ts: m.ts });

/**
 * JSON text of a message on its way to the store or the broker. A value JSON.stringify
 * cannot serialise is refused for good ("unprocessable"): retrying cannot help, so it must
 * never look like a failure of the store or broker ("unavailable").
 */
export function serialise(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw duplexError("unprocessable", `${what} cannot be serialised (${err instanceof Error ? err.message : String(err)}); it is refused for good`, err);
  }
}

