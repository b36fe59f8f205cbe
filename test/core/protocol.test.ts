import { describe, expect, test } from "bun:test";
import { DuplexError, ERROR_STATUS, asDuplexError, duplexError } from "../../src/core/errors.ts";
import { encode, errorFrame, FrameError, ID_RULE, isId, nestsDeeperThan, parseClientFrame, serialise } from "../../src/core/protocol.ts";

const refuse = (text: string) => {
  try {
    parseClientFrame(text);
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError);
    return err as FrameError;
  }
  throw new Error(`accepted ${text}`);
};

describe("parseClientFrame", () => {
  test("accepts each client frame type with its fields", () => {
    expect(parseClientFrame('{"type":"send","id":"a","conv":"c","body":{"x":[1]}}')).toEqual({ type: "send", id: "a", conv: "c", body: { x: [1] } });
    expect(parseClientFrame('{"type":"send","id":"a","conv":"c","body":null}')).toEqual({ type: "send", id: "a", conv: "c", body: null });
    expect(parseClientFrame('{"type":"sync","conv":"c","after":0}')).toEqual({ type: "sync", conv: "c", after: 0, id: undefined });
    expect(parseClientFrame('{"type":"read","conv":"c","seq":9,"id":"r"}')).toEqual({ type: "read", conv: "c", seq: 9, id: "r" });
    expect(parseClientFrame('{"type":"ping"}')).toEqual({ type: "ping", ts: undefined, id: undefined });
    expect(parseClientFrame('{"type":"ping","ts":17}')).toEqual({ type: "ping", ts: 17, id: undefined });
  });

  test("refuses malformed JSON and non-objects without an id", () => {
    for (const text of ["{", "", "null", "[]", "42", '"send"']) {
      const err = refuse(text);
      expect(err.code).toBe("bad_request");
      expect(err.id).toBeUndefined();
    }
  });

  test("names the field at fault and keeps the frame's string id", () => {
    const cases: [string, string][] = [
      ['{"id":"i"}', '"type" is missing'],
      ['{"type":"boom","id":"i"}', 'unknown frame type "boom"'],
      ['{"type":"send","id":"i","body":1}', 'field "conv"'],
      ['{"type":"send","id":"i","conv":"","body":1}', 'field "conv"'],
      ['{"type":"send","id":"i","conv":"c"}', 'field "body"'],
      ['{"type":"send","id":"","conv":"c","body":1}', 'field "id"'],
      ['{"type":"sync","id":"i","conv":"c","after":"3"}', 'field "after"'],
      ['{"type":"sync","id":"i","conv":"c","after":1e300}', 'field "after"'],
      ['{"type":"read","id":"i","conv":"c","seq":-1}', 'field "seq"'],
      ['{"type":"ping","id":"i","ts":"now"}', 'field "ts"'],
    ];
    for (const [text, fragment] of cases) {
      const err = refuse(text);
      expect(err.message).toContain(fragment);
      expect(err.id).toBe(JSON.parse(text).id);
    }
  });

  test("refuses a body nested past the depth limit, naming body and the setting, on a tiny frame thousands of levels deep", () => {
    const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
    for (const [body, limit] of [[deep(5000), 32], [deep(33), 32], [`{"a":${deep(3)}}`, 3]] as const) {
      let err: FrameError | undefined;
      try {
        parseClientFrame(`{"type":"send","id":"deep","conv":"c","body":${body}}`, limit);
      } catch (e) {
        err = e as FrameError;
      }
      expect(err).toBeInstanceOf(FrameError);
      expect(err!.code).toBe("bad_request");
      expect(err!.id).toBe("deep");
      expect(err!.message).toContain('field "body"');
      expect(err!.message).toContain(`at most ${limit} levels`);
      expect(err!.message).toContain("DUPLEX_MAX_BODY_DEPTH");
    }
    // Exactly at the limit passes; the default limit is 32.
    expect(parseClientFrame(`{"type":"send","id":"i","conv":"c","body":${deep(32)}}`).type).toBe("send");
    expect(parseClientFrame(`{"type":"send","id":"i","conv":"c","body":{"a":[1]}}`, 2).type).toBe("send");
  });

  test("says exactly what is wrong, naming the first field at fault, and answers the frame's string id", () => {
    const cases: [string, string, string | undefined][] = [
      ['{"id":5}', 'field "type" is missing', undefined],
      ['{"type":7,"id":"i"}', 'unknown frame type "7"', "i"],
      ['{"type":"send","id":"","conv":"","body":1}', `field "id" must be ${ID_RULE}`, ""],
      ['{"type":"send","id":"i","conv":"","body":[[[1]]]}', `field "conv" must be ${ID_RULE}`, "i"],
      ['{"type":"send","id":"i","conv":"c"}', 'field "body" must be present (any JSON value)', "i"],
      ['{"type":"sync","conv":"c","after":0,"id":""}', `field "id" must be ${ID_RULE}`, ""],
      ['{"type":"sync","conv":"c","after":-1,"id":3}', 'field "after" must be a non-negative integer', undefined],
      ['{"type":"read","conv":"c","seq":1,"id":7}', `field "id" must be ${ID_RULE}`, undefined],
      ['{"type":"ping","ts":null}', 'field "ts" must be a number', undefined],
    ];
    for (const [text, message, id] of cases) {
      const err = refuse(text);
      expect([err.code, err.message, err.id]).toEqual(["bad_request", message, id]);
    }
  });

  test("a non-string id is not repeated", () => {
    expect(refuse('{"type":"send","id":5,"conv":"c","body":1}').id).toBeUndefined();
  });
});

describe("nesting and encoding", () => {
  test("nestsDeeperThan counts arrays and objects, scalars being 0 deep, without recursing", () => {
    expect(nestsDeeperThan("x", 0)).toBe(false);
    expect(nestsDeeperThan([], 0)).toBe(true);
    expect(nestsDeeperThan([1, [2]], 2)).toBe(false);
    expect(nestsDeeperThan([1, [2]], 1)).toBe(true);
    expect(nestsDeeperThan({ a: { b: [null] } }, 2)).toBe(true);
    // Flat containers, which skip the walk: one level deep, and no more.
    expect(nestsDeeperThan({ a: 1, b: "x", c: null }, 1)).toBe(false);
    expect(nestsDeeperThan({ a: 1 }, 0)).toBe(true);
    expect(nestsDeeperThan([1, "x", null], 1)).toBe(false);
    expect(nestsDeeperThan({ a: 1, b: [] }, 1)).toBe(true);
    expect(nestsDeeperThan([1, {}], 1)).toBe(true);
    let v: unknown = 0;
    for (let i = 0; i < 1_000_000; i++) v = [v];
    expect(nestsDeeperThan(v, 64)).toBe(true);
  });

  test("encode gives null and serialise refuses unprocessable where JSON.stringify overflows the stack", () => {
    let body: unknown = 0;
    for (let i = 0; i < 200_000; i++) body = [body];
    const frame = { type: "msg" as const, conv: "c", seq: 1, id: "i", from: { user: "u", device: "d" }, body, ts: 0 };
    expect(encode(frame)).toBeNull();
    expect(() => serialise(body, "the body")).toThrow(expect.objectContaining({ code: "unprocessable", message: expect.stringContaining("the body cannot be serialised") }));
    expect(encode({ type: "pong" })).toBe('{"type":"pong"}');
  });
});

describe("isId", () => {
  test("an id is 1 to 128 characters, counted as code points: 128 emoji or accented letters fit, 129 do not", () => {
    for (const ok of ["a", "x".repeat(128), "😀".repeat(128), "é".repeat(128), "Ann Lee", "a}:b%"]) expect({ ok, is: isId(ok) }).toEqual({ ok, is: true });
    for (const bad of ["", "x".repeat(129), "😀".repeat(129), 7, null, undefined]) expect({ bad, is: isId(bad) }).toEqual({ bad, is: false });
  });

  test("a string with a lone surrogate is no id, wherever the surrogate is", () => {
    for (const bad of ["\ud800victim", "victim\udbff", "a\udc00b", "\udfff"]) expect({ bad, is: isId(bad) }).toEqual({ bad, is: false });
  });

  test("frames naming ids that are not well-formed are refused, naming the field", () => {
    expect(refuse('{"type":"send","id":"\\ud800a","conv":"c","body":1}').message).toContain('field "id" must be a string of 1 to 128 characters, well-formed Unicode');
    expect(refuse('{"type":"sync","conv":"\\udbffc","after":0}').message).toContain('field "conv"');
    expect(refuse('{"type":"ping","id":"\\udc00"}').message).toContain('field "id"');
  });
});

describe("error codes", () => {
  test("each code maps to its HTTP status and serialises as {code, message}", () => {
    const expected = { bad_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, too_large: 413, unprocessable: 422, rate_limited: 429, unavailable: 503 };
    expect<Record<string, number>>(ERROR_STATUS).toEqual(expected);
    for (const [code, status] of Object.entries(expected)) {
      const err = duplexError(code as keyof typeof expected, `m-${code}`);
      expect<number>(err.status).toBe(status);
      expect<unknown>(err.toJSON()).toEqual({ code, message: `m-${code}` });
      expect<unknown>(errorFrame(err, "x")).toEqual({ type: "error", code, message: `m-${code}`, id: "x" });
    }
  });

  test("a failure that is not ours becomes unavailable, keeping the cause", () => {
    const cause = new Error("ECONNREFUSED");
    const err = asDuplexError(cause);
    expect(err.code).toBe("unavailable");
    expect(err.cause).toBe(cause);
    const own = duplexError("forbidden", "no");
    expect(asDuplexError(own)).toBe(own);
    expect(own).toBeInstanceOf(DuplexError);
  });
});
