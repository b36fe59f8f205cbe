/**
 * RFC 6455 frames, byte by byte, for people: `decodeFrames` splits captured bytes into
 * frames and `describeFrame` says what every bit of one means. Web APIs only, so any
 * runtime (or a browser) can run it on bytes from anywhere.
 */
import { duplexError } from "../core/errors.ts";

export interface Frame {
  /** Where the frame starts in the bytes given to decodeFrames. */
  offset: number;
  /** The frame as sent: header, masking key and (masked) payload. */
  bytes: Uint8Array;
  fin: boolean;
  /** RSV1, RSV2, RSV3 as a 3-bit number: non-zero only under a negotiated extension. */
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey: Uint8Array | null;
  /** The form the length took: the 7-bit field alone, or 126 + 16 bits, or 127 + 64 bits. */
  lengthBits: 7 | 16 | 64;
  /** Header bytes before the payload, masking key included. */
  headerLength: number;
  /** The payload, unmasked. */
  payload: Uint8Array;
  /** The rules of RFC 6455 this frame breaks; decoding goes on regardless. */
  problems: string[];
}

export const OPCODES: Readonly<Record<number, string>> = {
  0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xa: "pong",
};

/** Close codes of RFC 6455 §7.4.1 and the IANA registry. */
export const CLOSE_CODES: Readonly<Record<number, string>> = {
  1000: "normal closure", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
  1005: "no status received (never sent on the wire)", 1006: "abnormal closure (never sent on the wire)",
  1007: "invalid payload data", 1008: "policy violation", 1009: "message too big",
  1010: "mandatory extension", 1011: "internal error", 1012: "service restart", 1013: "try again later",
  1014: "bad gateway", 1015: "TLS handshake failure (never sent on the wire)",
};

const NEVER_SENT = new Set([1005, 1006, 1015]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Splits bytes into frames. Throws when the bytes end inside a frame. */
export function decodeFrames(bytes: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  for (let at = 0; at < bytes.length;) {
    const frame = decodeOne(bytes, at);
    frames.push(frame);
    at += frame.bytes.length;
  }
  return frames;
}

function decodeOne(all: Uint8Array, offset: number): Frame {
  const need = (n: number, what: string) => {
    if (offset + n > all.length) {
      throw duplexError("bad_request", `frame at byte ${offset}: ${what} needs ${n} bytes, only ${all.length - offset} left`);
    }
  };
  need(2, "the header");
  const b0 = all[offset], b1 = all[offset + 1];
  const len7 = b1 & 0x7f;
  const lengthBits = len7 === 127 ? 64 : len7 === 126 ? 16 : 7;
  const extended = lengthBits === 7 ? 0 : lengthBits / 8;
  const masked = (b1 & 0x80) !== 0;
  const headerLength = 2 + extended + (masked ? 4 : 0);
  need(headerLength, "the header");
  const view = new DataView(all.buffer, all.byteOffset + offset, headerLength);
  let length = len7;
  if (lengthBits === 16) length = view.getUint16(2);
  if (lengthBits === 64) {
    const big = view.getBigUint64(2);
    if (big >> 63n) throw duplexError("bad_request", `frame at byte ${offset}: the 64-bit length has its most significant bit set`);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw duplexError("bad_request", `frame at byte ${offset}: a payload of ${big} bytes is beyond this decoder`);
    length = Number(big);
  }
  need(headerLength + length, `a payload of ${length} bytes`);
  const maskKey = masked ? all.slice(offset + 2 + extended, offset + headerLength) : null;
  const payload = all.slice(offset + headerLength, offset + headerLength + length);
  if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] ^= maskKey[i % 4];
  const frame: Frame = {
    offset, bytes: all.subarray(offset, offset + headerLength + length),
    fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0x0f,
    masked, maskKey, lengthBits, headerLength, payload, problems: [],
  };
  frame.problems = problemsOf(frame);
  return frame;
}

function problemsOf(f: Frame): string[] {
  const out: string[] = [];
  const length = f.payload.length;
  if (f.rsv !== 0) out.push("RSV bits set: only allowed when an extension (such as permessage-deflate) was negotiated");
  if (!(f.opcode in OPCODES)) out.push(`opcode 0x${f.opcode.toString(16)} is reserved`);
  if ((f.lengthBits === 16 && length < 126) || (f.lengthBits === 64 && length < 65536)) {
    out.push(`length ${length} written in the ${f.lengthBits}-bit form: the shortest form is required`);
  }
  if (f.opcode >= 0x8) {
    if (!f.fin) out.push("a control frame must not be fragmented (FIN must be 1)");
    if (length > 125) out.push("a control frame carries at most 125 bytes");
  }
  if (f.opcode === 0x8) {
    if (length === 1) out.push("a close payload is empty or at least 2 bytes (the code)");
    const code = closeCode(f);
    if (code !== null && (code < 1000 || code >= 5000 || NEVER_SENT.has(code) || code === 1004 || (code > 1014 && code < 3000))) {
      out.push(`close code ${code} must not be sent`);
    }
    if (length > 2 && text(f.payload.subarray(2)) === null) out.push("the close reason is not valid UTF-8");
  }
  // Only a whole message can be checked: a fragment may end inside a character.
  if (f.opcode === 0x1 && f.fin && text(f.payload) === null) out.push("the text is not valid UTF-8");
  return out;
}

function text(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function closeCode(f: Frame): number | null {
  return f.opcode === 0x8 && f.payload.length >= 2 ? (f.payload[0] << 8) | f.payload[1] : null;
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
const bits = (b: number) => b.toString(2).padStart(8, "0");
/** Byte 0 splits as FIN, RSV1-3, opcode; byte 1 as MASK, 7-bit length. */
const fields0 = (b: number) => bits(b).replace(/^(.)(...)/, "$1 $2 ");
const fields1 = (b: number) => bits(b).replace(/^(.)/, "$1 ");
const span = (from: number, to: number) => (to > from ? `bytes ${from}-${to}` : `byte ${from}`).padEnd(14);
/** The bytes column: wide enough for a masking key, so the meanings line up. */
const col = (bytes: Uint8Array) => hex(bytes).padEnd(11);
const MAX_SHOWN = 120;

function shown(s: string): string {
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}… (${s.length} characters)` : s;
}

/** One line per field of the frame, each naming the bytes it comes from. */
export function describeFrame(f: Frame): string[] {
  const name = OPCODES[f.opcode] ?? "reserved";
  const b0 = f.bytes[0], b1 = f.bytes[1];
  const len7 = b1 & 0x7f;
  const lines = [
    `frame at byte ${f.offset}: ${name}, ${f.payload.length} payload bytes, ${f.bytes.length} bytes in all`,
    `  ${span(0, 0)}${col(f.bytes.subarray(0, 1))}  ${fields0(b0)}  FIN=${+f.fin} RSV1=${(f.rsv >> 2) & 1} RSV2=${(f.rsv >> 1) & 1} RSV3=${f.rsv & 1} opcode=0x${f.opcode.toString(16)} (${name})`,
    `  ${span(1, 1)}${col(f.bytes.subarray(1, 2))}  ${fields1(b1)}  MASK=${+f.masked} ${
      f.lengthBits === 7 ? `payload length=${len7}` : `length=${len7}: the next ${f.lengthBits / 8} bytes hold the length`
    }`,
  ];
  let at = 2;
  if (f.lengthBits !== 7) {
    const n = f.lengthBits / 8;
    lines.push(`  ${span(at, at + n - 1)}${col(f.bytes.subarray(at, at + n))}  extended payload length=${f.payload.length}`);
    at += n;
  }
  if (f.maskKey) {
    lines.push(`  ${span(at, at + 3)}${col(f.maskKey)}  masking key (payload byte i is XORed with key byte i mod 4)`);
    at += 4;
  }
  lines.push(...describePayload(f, at));
  for (const p of f.problems) lines.push(`  problem: ${p}`);
  return lines;
}

function describePayload(f: Frame, at: number): string[] {
  const end = at + f.payload.length - 1;
  const how = f.masked ? "unmasked" : "as sent";
  if (f.payload.length === 0) return ["  no payload"];
  const code = closeCode(f);
  if (code !== null) {
    const lines = [`  ${span(at, at + 1)}${col(f.payload.subarray(0, 2))}  close code ${code} (${describeCloseCode(code)})`];
    const reason = text(f.payload.subarray(2));
    if (f.payload.length > 2) lines.push(`  ${span(at + 2, end)}reason, ${how}: ${reason === null ? hex(f.payload.subarray(2)) : JSON.stringify(reason)}`);
    return lines;
  }
  const t = f.opcode === 0x2 ? null : text(f.payload);
  const body = t === null ? shown(hex(f.payload)) : shown(t);
  return [`  ${span(at, end)}payload, ${how}: ${body}`];
}

export function describeCloseCode(code: number): string {
  if (CLOSE_CODES[code]) return CLOSE_CODES[code];
  if (code >= 4000 && code <= 4999) return "private use by the application";
  if (code >= 3000 && code <= 3999) return "registered for libraries and frameworks";
  return "not assigned";
}

export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  /** Client frames must be masked with a fresh random key; a fixed one is for examples. */
  maskKey?: Uint8Array;
}

/** Builds one frame, choosing the shortest length form. */
export function encodeFrame(spec: FrameSpec): Uint8Array {
  const payload = typeof spec.payload === "string" ? new TextEncoder().encode(spec.payload) : spec.payload ?? new Uint8Array();
  const n = payload.length;
  const extended = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const key = spec.maskKey;
  if (key && key.length !== 4) throw duplexError("bad_request", `maskKey must be 4 bytes, got ${key.length}`);
  if (!Number.isInteger(spec.opcode) || spec.opcode < 0 || spec.opcode > 15) {
    throw duplexError("bad_request", `opcode must be an integer from 0 to 15, got ${spec.opcode}`);
  }
  const out = new Uint8Array(2 + extended + (key ? 4 : 0) + n);
  const view = new DataView(out.buffer);
  out[0] = ((spec.fin ?? true) ? 0x80 : 0) | spec.opcode;
  out[1] = (key ? 0x80 : 0) | (extended === 0 ? n : extended === 2 ? 126 : 127);
  if (extended === 2) view.setUint16(2, n);
  if (extended === 8) view.setBigUint64(2, BigInt(n));
  const start = 2 + extended + (key ? 4 : 0);
  if (key) out.set(key, 2 + extended);
  for (let i = 0; i < n; i++) out[start + i] = key ? payload[i] ^ key[i % 4] : payload[i];
  return out;
}

/** Reads a hex dump such as `81 16 7b 22` (whitespace, `:` and `0x` prefixes allowed). */
export function hexBytes(dump: string): Uint8Array {
  const digits = dump.replace(/\b0x/gi, "").replace(/[\s:]/g, "");
  const bad = digits.search(/[^0-9a-f]/i);
  if (bad >= 0) throw duplexError("bad_request", `hex dump: "${digits[bad]}" is not a hex digit`);
  if (digits.length % 2 !== 0) throw duplexError("bad_request", "hex dump: an odd number of hex digits");
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}
