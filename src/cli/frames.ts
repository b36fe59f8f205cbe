/** `duplex frames --file F | --hex "81 05 …"`: RFC 6455 frames explained byte by byte. */
import { readFile } from "node:fs/promises";
import { duplexError } from "../core/errors.ts";
import { type CommandDoc, flag, flags, type Values } from "./flags.ts";
import type { Rendered } from "./deploy/render.ts";
import { decodeFrames, describeFrame, hexBytes } from "../ops/frames.ts";

export const FRAMES_FLAGS = flags(
  flag({ name: "file", arg: "FILE", doc: "raw bytes as captured after the 101 (curl -o, tcpdump payload); give this or --hex" }),
  flag({ name: "hex", arg: "DUMP", values: "hex pairs, spaces allowed", doc: "the same bytes as hex" }),
);

export const FRAMES_COMMAND: CommandDoc = {
  usage: 'duplex frames (--file FILE | --hex "81 05 48 65 6c 6c 6f")',
  summary: "explain captured WebSocket frames byte by byte",
  flags: FRAMES_FLAGS,
  notes: ["Prints every frame: FIN, RSV, opcode, MASK, payload length in its form, masking key, payload."],
};

export async function runFrames(v: Values<typeof FRAMES_FLAGS>): Promise<Rendered> {
  if ((v.file === undefined) === (v.hex === undefined)) throw duplexError("bad_request", "give exactly one of --file FILE or --hex DUMP");
  let bytes: Uint8Array;
  if (v.hex !== undefined) bytes = hexBytes(v.hex);
  else {
    try {
      bytes = new Uint8Array(await readFile(v.file!));
    } catch {
      throw duplexError("bad_request", `--file: cannot read "${v.file}"`);
    }
  }
  const frames = decodeFrames(bytes);
  return { files: {}, stdout: frames.map((f) => describeFrame(f).join("\n")).join("\n\n") + "\n" };
}
