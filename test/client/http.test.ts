import { afterEach, describe, expect, test } from "bun:test";
import { settle } from "./fakes.ts";
import { open, type Setup, setup } from "./setup.ts";

let s: Setup;
afterEach(() => s?.client.close());

const stored = { conv: "c 1", seq: 3, id: "m3", from: { user: "u2", device: "web" }, body: "hi", ts: 5 };

describe("the HTTP helpers", () => {
  test("history asks GET /api/conversations/:id/messages with the bearer token", async () => {
    s = setup({ url: "http://node.test/prefix" }, () => ({ status: 200, body: { messages: [stored] } }));
    expect(await s.client.history("c 1", 2, 50)).toEqual([stored]);
    expect(s.http.calls).toMatchObject([{
      url: "http://node.test/prefix/api/conversations/c%201/messages?after=2&limit=50",
      method: "GET",
      headers: { authorization: "Bearer tok" },
    }]);
  });

  test("createConversation posts the members and follows the new conversation", async () => {
    s = setup({}, () => ({ status: 201, body: { id: "c9", members: ["u1", "u2"] } }));
    const socket = await open(s);
    expect(await s.client.createConversation(["u2"])).toEqual({ id: "c9", members: ["u1", "u2"] });
    expect(s.http.calls[0]).toMatchObject({ url: "http://node.test/api/conversations", method: "POST", body: { members: ["u2"] } });
    expect(socket.of("sync")).toMatchObject([{ conv: "c9", after: 0 }]);
    expect(s.client.conversations()).toEqual(["c9"]);
  });

  test("listConversations asks GET /api/conversations and follows each one listed", async () => {
    const listed = [{ id: "c2", members: ["u1", "u3"] }, { id: "c1", members: ["u1", "u2"] }];
    s = setup({}, () => ({ status: 200, body: { conversations: listed } }));
    const socket = await open(s);
    expect(await s.client.listConversations(20)).toEqual(listed);
    expect(s.http.calls[0]).toMatchObject({ url: "http://node.test/api/conversations?limit=20", method: "GET", headers: { authorization: "Bearer tok" } });
    expect(socket.of("sync")).toMatchObject([{ conv: "c2", after: 0 }, { conv: "c1", after: 0 }]);
    expect(s.client.conversations().sort()).toEqual(["c1", "c2"]);
  });

  test("a refusal becomes the node's DuplexError", async () => {
    s = setup({}, () => ({ status: 403, body: { error: { code: "forbidden", message: "you are not a member of c1" } } }));
    await expect(s.client.history("c1")).rejects.toMatchObject({ code: "forbidden", message: "you are not a member of c1" });
  });

  test("an answer without the JSON error body still maps its status to a code", async () => {
    s = setup({}, () => ({ status: 404, body: "nope" }));
    await expect(s.client.history("c1")).rejects.toMatchObject({ code: "not_found", message: "the node answered HTTP 404" });
  });

  test("an unreachable node is unavailable, naming the URL", async () => {
    s = setup({}, () => null);
    await expect(s.client.history("c1")).rejects.toMatchObject({ code: "unavailable", message: expect.stringContaining("http://node.test/api/conversations/c1/messages") });
  });

  test("a token function is asked again once when the cached token is refused", async () => {
    let n = 0;
    s = setup({ token: async () => `tok-${++n}` }, (call) =>
      call.headers.authorization === "Bearer tok-2"
        ? { status: 200, body: { messages: [] } }
        : { status: 401, body: { error: { code: "unauthorized", message: "the access token has expired" } } });
    s.client.connect();
    await settle(); // the dial took tok-1
    expect(await s.client.history("c1")).toEqual([]);
    expect(s.http.calls.map((c) => c.headers.authorization)).toEqual(["Bearer tok-1", "Bearer tok-2"]);
  });

  test("history refuses a bad conversation id before asking", async () => {
    s = setup();
    await expect(s.client.history("")).rejects.toMatchObject({ code: "bad_request", message: expect.stringContaining("conv") });
    expect(s.http.calls).toEqual([]);
  });
});
