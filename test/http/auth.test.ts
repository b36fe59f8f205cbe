import { describe, expect, test } from "bun:test";
import { sign } from "hono/jwt";
import { bearer, mintToken, verifyToken } from "../../src/http/auth.ts";

const secret = "s3cret";

describe("access tokens", () => {
  test("any valid member id, spaces included, gets a token naming it", async () => {
    for (const user of ["alice", "Ann Lee", "x".repeat(128), "ü-7", "😀".repeat(128)]) {
      expect(await verifyToken(await mintToken(user, secret), secret, 3600)).toBe(user);
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
      await expect(verifyToken(await sign(payload, secret, "HS256"), secret, 3600)).rejects.toMatchObject({ code: "unauthorized", message: expect.stringContaining("sub") });
    }
  });

  test("a signed token for a user id with a lone surrogate is unauthorized: it could share keys with another user", async () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    for (const sub of ["\ud800victim", "\udbffvictim", "victim\udc00"]) {
      await expect(verifyToken(await sign({ sub, exp }, secret, "HS256"), secret, 3600)).rejects.toMatchObject({ code: "unauthorized", message: expect.stringContaining("well-formed") });
    }
    await expect(mintToken("\ud800victim", secret)).rejects.toMatchObject({ code: "bad_request", message: expect.stringContaining("user") });
  });

  test("a token must expire, and within the longest lifetime the node accepts (exp minus now)", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(verifyToken(await sign({ sub: "alice" }, secret, "HS256"), secret, 3600)).rejects.toMatchObject({ code: "unauthorized", message: expect.stringContaining("no expiry (exp)") });
    await expect(verifyToken(await sign({ sub: "alice", iat: now, exp: now + 3700 }, secret, "HS256"), secret, 3600)).rejects.toMatchObject({ code: "unauthorized", message: expect.stringContaining("DUPLEX_MAX_TOKEN_TTL") });
    // An old iat does not help: what counts is how long the token is still good for.
    expect(await verifyToken(await sign({ sub: "alice", iat: now - 86400, exp: now + 3500 }, secret, "HS256"), secret, 3600)).toBe("alice");
    expect(await verifyToken(await mintToken("alice", secret, 3600), secret, 3600)).toBe("alice");
  });

  test("Authorization is read only as Bearer <token>", () => {
    expect(bearer("Bearer abc.def")).toBe("abc.def");
    expect(bearer("bearer abc")).toBe("abc");
    expect(bearer("Basic abc")).toBeNull();
    expect(bearer("Bearer a b")).toBeNull();
    expect(bearer(undefined)).toBeNull();
  });
});
