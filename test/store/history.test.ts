/**
 * The embedded store's chunked history against a plain list: across many chunks and trims,
 * with ids that several senders share, it answers exactly as the list it replaces.
 */
import { describe, expect, test } from "bun:test";
import { CHUNK, History } from "../../src/store/history.ts";
import type { StoredMessage } from "../../src/core/ports/store.ts";

const USERS = ["ann", "bob", "cat"];

/** A plain list kept beside the history: the newest `limit` messages. */
function model(limit: number) {
  const kept: StoredMessage[] = [];
  let last = 0;
  return {
    push(m: StoredMessage) {
      kept.push(m);
      last = m.seq;
      while (kept.length > limit) kept.shift();
    },
    range: (after: number, n: number) => kept.filter((m) => m.seq > after).slice(0, n),
    sent: (user: string, id: string) => kept.find((m) => m.from.user === user && m.id === id),
    get last() {
      return last;
    },
  };
}

describe("History", () => {
  for (const limit of [1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * USERS.length * CHUNK + 5]) {
    test(`with a limit of ${limit}, range, sent and last answer as a plain list of the newest does`, () => {
      const history = new History();
      const list = model(limit);
      for (let seq = 1; seq <= 10 * CHUNK + 7; seq++) {
        // Ids repeat across senders (each counts its own), so a record is found by user and id.
        const m: StoredMessage = { conv: "c", seq, id: `m${Math.floor(seq / USERS.length)}`, from: { user: USERS[seq % USERS.length], device: "d" }, body: seq, ts: 0 };
        history.push(m);
        while (history.size > limit) history.trimOne();
        list.push(m);
        expect(history.size).toBe(Math.min(seq, limit));
        expect(history.last).toBe(list.last);
        if (seq % 17 === 0 || seq % CHUNK <= 1) {
          for (const after of [0, seq - limit - 1, seq - limit, seq - 2, seq]) {
            for (const n of [1, 5, limit + 3]) expect(history.range(after, n)).toEqual(list.range(after, n));
          }
          for (const user of USERS) {
            for (const back of [0, 1, Math.floor(limit / USERS.length), Math.floor(limit / USERS.length) + 2]) {
              const id = `m${Math.floor(seq / USERS.length) - back}`;
              expect(history.sent(user, id)).toBe(list.sent(user, id));
            }
          }
        }
      }
    });
  }

  test("an empty history has nothing to range over and nothing sent", () => {
    const history = new History();
    expect(history.range(0, 10)).toEqual([]);
    expect(history.sent("ann", "m1")).toBeUndefined();
    expect(history.last).toBe(0);
  });
});
