import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect as tcp, type Socket } from "node:net";
import { resolve } from "node:path";
import { decodeFrames, describeFrame, encodeFrame, type Frame, hexBytes } from "../../src/ops/frames.ts";
import { mintToken, type NodeProc, ROOT, RUNTIMES, startNode } from "../harness.ts";

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
const one = (dump: string) => {
  const frames = decodeFrames(hexBytes(dump));
  expect(frames.length).toBe(1);
  return frames[0];
};

describe("decodeFrames", () => {
  test("reads the masked 'Hello' of RFC 6455 §5.7", () => {
    const f = one("81 85 37 fa 21 3d 7f 9f 4d 51 58");
    expect(f).toMatchObject({ fin: true, rsv: 0, opcode: 1, masked: true, lengthBits: 7, headerLength: 6, problems: [] });
    expect(hex(f.maskKey!)).toBe("37 fa 21 3d");
    expect(new TextDecoder().decode(f.payload)).toBe("Hello");
  });

  test("reads the 16-bit and 64-bit length forms", () => {
    const mid = one(`82 7e 01 00 ${"aa ".repeat(256)}`);
    expect(mid).toMatchObject({ opcode: 2, lengthBits: 16, headerLength: 4, problems: [] });
    expect(mid.payload.length).toBe(256);
    const big = decodeFrames(encodeFrame({ opcode: 2, payload: new Uint8Array(70_000) }))[0];
    expect(big).toMatchObject({ lengthBits: 64, headerLength: 10, problems: [] });
    expect(big.payload.length).toBe(70_000);
  });

  test("splits back-to-back frames and tells where each starts", () => {
    const frames = decodeFrames(hexBytes("89 00 8a 84 01 02 03 04 6b 6d 01 7e"));
    expect(frames.map((f) => [f.offset, f.opcode])).toEqual([[0, 9], [2, 10]]);
    expect(hex(frames[1].payload)).toBe("6a 6f 02 7a");
  });

  test("reads a fragmented message as its frames", () => {
    const frames = decodeFrames(hexBytes("01 03 48 65 6c 80 02 6c 6f"));
    expect(frames.map((f) => [f.fin, f.opcode, new TextDecoder().decode(f.payload)])).toEqual([[false, 1, "Hel"], [true, 0, "lo"]]);
    expect(frames.flatMap((f) => f.problems)).toEqual([]);
  });

  test("refuses bytes that end inside a frame, naming the frame and what is missing", () => {
    expect(() => decodeFrames(hexBytes("81"))).toThrow("frame at byte 0: the header needs 2 bytes, only 1 left");
    expect(() => decodeFrames(hexBytes("81 7e 00"))).toThrow("the header needs 4 bytes, only 3 left");
    expect(() => decodeFrames(hexBytes("81 85 37 fa"))).toThrow("the header needs 6 bytes");
    expect(() => decodeFrames(hexBytes("89 00 81 05 48 65"))).toThrow("frame at byte 2: a payload of 5 bytes needs 7 bytes, only 4 left");
  });

  test("refuses a 64-bit length with its top bit set or beyond safe integers", () => {
    expect(() => decodeFrames(hexBytes("82 7f 80 00 00 00 00 00 00 01"))).toThrow("most significant bit");
    expect(() => decodeFrames(hexBytes("82 7f 00 40 00 00 00 00 00 00"))).toThrow("beyond this decoder");
  });

  test("names every rule a frame breaks and still decodes it", () => {
    const cases: [string, string][] = [
      ["c1 00", "RSV bits set"],
      ["83 00", "opcode 0x3 is reserved"],
      ["8b 00", "opcode 0xb is reserved"],
      ["09 00", "control frame must not be fragmented"],
      [`89 7e 00 7e ${"00 ".repeat(126)}`, "at most 125 bytes"],
      [`81 7e 00 05 ${"41 ".repeat(5)}`, "shortest form"],
      [`82 7f 00 00 00 00 00 00 00 05 ${"41 ".repeat(5)}`, "shortest form"],
      ["88 01 03", "empty or at least 2 bytes"],
      ["88 02 03 ed", "close code 1005 must not be sent"],
      ["88 02 03 e7", "close code 999 must not be sent"],
      ["88 02 07 d0", "close code 2000 must not be sent"],
      ["88 03 03 e8 ff", "close reason is not valid UTF-8"],
      ["81 02 c3 28", "not valid UTF-8"],
    ];
    for (const [dump, problem] of cases) {
      const f = one(dump);
      expect({ dump, problems: f.problems.join("; ") }).toEqual({ dump, problems: expect.stringContaining(problem) });
      expect(describeFrame(f).some((l) => l.includes(`problem: ${f.problems[0]}`))).toBe(true);
    }
    expect(one("88 02 0f a1").problems).toEqual([]);
  });
});

describe("describeFrame", () => {
  test("names each field with the bytes it comes from", () => {
    const lines = describeFrame(one(`81 7e 00 88 ${"61 ".repeat(136)}`));
    expect(lines[0]).toBe("frame at byte 0: text, 136 payload bytes, 140 bytes in all");
    expect(lines[1]).toContain("1 000 0001  FIN=1 RSV1=0 RSV2=0 RSV3=0 opcode=0x1 (text)");
    expect(lines[2]).toContain("0 1111110  MASK=0 length=126: the next 2 bytes hold the length");
    expect(lines[3]).toMatch(/^ {2}bytes 2-3 +00 88 +extended payload length=136$/);
    expect(lines[4]).toMatch(/^ {2}bytes 4-139 +payload, as sent: a{120}… \(136 characters\)$/);
  });

  test("shows close codes with their meaning and binary payloads in hex", () => {
    const [close, bin, ping] = decodeFrames(hexBytes("88 0a 11 99 72 65 70 6c 61 63 65 64 82 02 00 ff 89 00"));
    expect(describeFrame(close)).toContain(`  bytes 2-3     11 99        close code 4505 (private use by the application)`);
    expect(describeFrame(close).at(-1)).toContain(`reason, as sent: "replaced"`);
    expect(describeFrame(bin).at(-1)).toContain("payload, as sent: 00 ff");
    expect(describeFrame(ping).at(-1)).toBe("  no payload");
  });
});

describe("encodeFrame and hexBytes", () => {
  test("encodeFrame round-trips through decodeFrames in every length form", () => {
    for (const n of [0, 125, 126, 65535, 65536]) {
      const payload = Uint8Array.from({ length: n }, (_, i) => i & 0xff);
      const f = decodeFrames(encodeFrame({ opcode: 2, payload, maskKey: hexBytes("01 02 03 04") }))[0];
      expect({ n, problems: f.problems, same: hex(f.payload) === hex(payload) }).toEqual({ n, problems: [], same: true });
    }
  });

  test("encodeFrame refuses a bad opcode or masking key", () => {
    expect(() => encodeFrame({ opcode: 16 })).toThrow("opcode must be an integer from 0 to 15");
    expect(() => encodeFrame({ opcode: 1, maskKey: new Uint8Array(3) })).toThrow("maskKey must be 4 bytes");
  });

  test("hexBytes reads common dump styles and refuses anything else", () => {
    expect(hex(hexBytes("0x81 0x16\n7B:22"))).toBe("81 16 7b 22");
    expect(() => hexBytes("81 1g")).toThrow('"g" is not a hex digit');
    expect(() => hexBytes("81 1")).toThrow("odd number of hex digits");
  });
});

// ---- Real bytes: what each runtime puts on the wire, and what docs/03-frames.md shows. ----

/** The key and masking key the chapters use (real clients pick random ones). */
const KEY = "+KN+GPyi4fruYPzIuxjy5g==";
const MASK = hexBytes("37 fa 21 3d");
const chapter = readFileSync(resolve(ROOT, "docs/03-frames.md"), "utf8");

/** The fenced block after `<!-- frames-test: name -->` in the chapter. */
function shownInChapter(name: string): string {
  const m = chapter.match(new RegExp(`<!-- frames-test: ${name} -->\\s*\`\`\`text\\n([\\s\\S]*?)\`\`\``));
  if (!m) throw new Error(`docs/03-frames.md has no block marked <!-- frames-test: ${name} -->`);
  return m[1].trimEnd();
}

const wrap = (dump: string) => dump.match(/.{1,48}(?: |$)/g)!.map((l) => l.trim()).join("\n");
const show = (f: Frame) => `${wrap(hex(f.bytes))}\n\n${describeFrame(f).join("\n")}`;

async function expectedAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** A client that speaks WebSocket by hand over TCP, so every byte is ours to see. */
class RawPeer {
  head = "";
  frames: Frame[] = [];
  ended: Promise<void>;
  #sock: Socket;
  #buf = new Uint8Array();
  #wake = () => {};

  constructor(port: number, path: string, answerPings: boolean) {
    this.#sock = tcp(port, "127.0.0.1");
    this.#sock.write([`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Upgrade: websocket", "Connection: Upgrade",
      `Sec-WebSocket-Key: ${KEY}`, "Sec-WebSocket-Version: 13",
      // What browsers offer: the node must decline it, or RSV1 would mark compressed frames.
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "", ""].join("\r\n"));
    this.ended = new Promise((done) => this.#sock.on("close", () => { done(); this.#wake(); }));
    this.#sock.on("error", () => {});
    this.#sock.on("data", (chunk: Buffer) => {
      this.#buf = new Uint8Array([...this.#buf, ...chunk]);
      if (!this.head) {
        const end = Buffer.from(this.#buf).indexOf("\r\n\r\n");
        if (end < 0) return;
        this.head = new TextDecoder().decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.slice(end + 4);
      }
      let frames: Frame[];
      try {
        frames = decodeFrames(this.#buf);
      } catch {
        return; // the last frame is still arriving
      }
      this.#buf = new Uint8Array();
      for (const f of frames) {
        this.frames.push(f);
        if (f.opcode === 0x9 && answerPings) this.write(encodeFrame({ opcode: 0xa, payload: f.payload, maskKey: MASK }));
      }
      this.#wake();
    });
  }

  write(bytes: Uint8Array): void {
    this.#sock.write(bytes);
  }

  /** The first frame not seen before that matches; null if the connection ends first. */
  async next(match: (f: Frame) => boolean, seen = new Set<Frame>()): Promise<Frame | null> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const f = this.frames.find((x) => !seen.has(x) && match(x));
      if (f) return f;
      if (this.#sock.destroyed) return null;
      if (Date.now() > deadline) throw new Error(`no matching frame; got ${this.frames.map((x) => hex(x.bytes.subarray(0, 2)))}`);
      await new Promise<void>((wake) => { this.#wake = wake; setTimeout(wake, 200); });
    }
  }

  destroy(): void {
    this.#sock.destroy();
  }
}

for (const runtime of RUNTIMES) {
  describe(`real frames from a ${runtime} node`, () => {
    let node: NodeProc;
    let path: string;
    const peers: RawPeer[] = [];
    const open = (answerPings: boolean) => {
      const p = new RawPeer(node.port, path, answerPings);
      peers.push(p);
      return p;
    };
    beforeAll(async () => {
      node = await startNode({ runtime, env: { DUPLEX_HEARTBEAT_MS: "1000" } });
      path = `/ws?token=${await mintToken("alice", node.secret)}&device=raw`;
    });
    afterAll(async () => {
      for (const p of peers) p.destroy();
      await node?.kill();
    });

    test("answers the handshake with the Sec-WebSocket-Accept of chapter 2, no extension, and a welcome in the 16-bit length form", async () => {
      const peer = open(true);
      const welcome = await peer.next((f) => f.opcode === 0x1);
      expect(peer.head).toMatch(/^HTTP\/1\.1 101 /);
      expect(peer.head).not.toMatch(/sec-websocket-extensions/i);
      expect(peer.head).toMatch(new RegExp(`^sec-websocket-accept: ${(await expectedAccept(KEY)).replace(/\+/g, "\\+")}$`, "im"));
      expect(welcome).toMatchObject({ fin: true, masked: false, lengthBits: 16, problems: [] });
      expect(JSON.parse(new TextDecoder().decode(welcome!.payload)).type).toBe("welcome");
    });

    test("unmasks the chapter's client ping and answers with exactly the pong the chapter shows", async () => {
      const peer = open(true);
      await peer.next((f) => f.opcode === 0x1);
      const ping = encodeFrame({ opcode: 0x1, payload: '{"type":"ping","ts":1}', maskKey: MASK });
      expect(show(decodeFrames(ping)[0])).toBe(shownInChapter("client-ping"));
      const seen = new Set(peer.frames);
      peer.write(ping);
      const pong = await peer.next((f) => f.opcode === 0x1, seen);
      expect(show(pong!)).toBe(shownInChapter("server-pong"));
    });

    test("closes a binary frame with exactly the close frame the chapter shows", async () => {
      const peer = open(true);
      await peer.next((f) => f.opcode === 0x1);
      peer.write(encodeFrame({ opcode: 0x2, payload: hexBytes("01 02 03"), maskKey: MASK }));
      const close = await peer.next((f) => f.opcode === 0x8);
      expect(show(close!)).toBe(shownInChapter("server-close"));
    });

    test("pings a silent peer with an empty ping frame, then drops it as chapter 4 says", async () => {
      const peer = open(false);
      await peer.next((f) => f.opcode === 0x1);
      const start = Date.now();
      const ping = await peer.next((f) => f.opcode === 0x9);
      const pingedAfter = Date.now() - start;
      expect(hex(ping!.bytes)).toBe("89 00");
      await peer.ended;
      // The hub drops the TCP connection outright, with no close frame, on every runtime.
      expect(peer.frames.find((f) => f.opcode === 0x8)).toBeUndefined();
      console.log(`${runtime}: heartbeat 1000 ms: first ping ${pingedAfter} ms after welcome, connection gone after ${Date.now() - start} ms`);
    });
  });
}
