import { describe, expect, test } from "bun:test";
import { errorFields, unreadableFields } from "../../src/core/log.ts";

describe("log fields for failures", () => {
  test("a payload that does not parse is logged by its size, never quoted", () => {
    const text = '{"body":"SECRET-BODY here"';
    let err: unknown;
    try {
      JSON.parse(text);
    } catch (e) {
      err = e;
    }
    const fields = unreadableFields(err, text.length);
    expect(fields).toEqual({ err: "not valid JSON", bytes: text.length });
    expect(JSON.stringify(fields)).not.toContain("SECRET");
  });

  test("a failure's cause is logged too: the detail a client is not shown, unless it may quote a payload", () => {
    const err = Object.assign(new Error("Redis is unreachable; retry later", { cause: new Error("Redis at redis://db:6379 (store): not connected") }), { code: "unavailable" });
    expect(errorFields(err)).toEqual({ err: "Redis is unreachable; retry later", code: "unavailable", cause: "Redis at redis://db:6379 (store): not connected" });
    expect(errorFields(new Error("unreadable", { cause: new SyntaxError('Unexpected "SECRET"') }))).toEqual({ err: "unreadable" });
  });

  test("any other failure keeps its message and code", () => {
    const err = Object.assign(new Error("the hub threw"), { code: "unavailable" });
    expect(unreadableFields(err, 10)).toEqual(errorFields(err));
    expect(errorFields(err)).toEqual({ err: "the hub threw", code: "unavailable" });
  });
});
