import { describe, expect, test } from "bun:test";
import { sign } from "hono/jwt";
import { bearer, mintToken, verifyToken } from "../../src/http/auth.ts";

const secret = "s3cret";

describe("access tokens", () => {
  test("any valid member id, spaces included, gets a token naming it", async () => {
    for (const user of ["alice", "Ann Lee", "x".repeat(128), "ü-7"]) {
      expect(await verifyToken(await mintToken(user, secret), secret)).toBe(user);
    }
  });

  test("minting refuses an empty or over-long user and a ttl that is not positive, naming the field", async () => {
    await expect(mintToken("", secret)).rejects.toMatchObject({ code: "bad_request", message: expect.stringContaining("user") });
    await expect(mintToken("x".repeat(129), secret)).rejects.toMatchObject({ code: "bad_request", message: expect.stringContaining("user") });
    await expect(mintToken("alice", secret, 0)).rejects.toMatchObject({ code: "bad_request", message: expect.stringContaining("ttl") });
  });

  test("a signed token without a usable sub is unauthorized", async () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    for (const payload of [{ exp }, { sub: "", exp }, { sub: 7, exp }, { sub: "y".repeat(129), exp }]) {
      await expect(verifyToken(await sign(payload, secret, "HS256"), secret)).rejects.toMatchObject({ code: "unauthorized", message: expect.stringContaining("sub") });
    }
  });

  test("Authorization is read only as Bearer <token>", () => {
    expect(bearer("Bearer abc.def")).toBe("abc.def");
    expect(bearer("bearer abc")).toBe("abc");
    expect(bearer("Basic abc")).toBeNull();
    expect(bearer("Bearer a b")).toBeNull();
    expect(bearer(undefined)).toBeNull();
  });
});
