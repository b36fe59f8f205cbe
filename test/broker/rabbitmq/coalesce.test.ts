import { expect, test } from "bun:test";
import { Writable } from "node:stream";
import { coalesceWrites } from "../../../src/broker/rabbitmq/connection.ts";

/** A socket stand-in that records each system-call-sized write it is asked to make. */
function recorder() {
  const calls: string[][] = [];
  const socket = new Writable({
    write(chunk: Buffer, _enc, done) {
      calls.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      calls.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      done();
    },
  });
  return { socket, calls };
}

test("the frames written in one turn leave in one writev, in order, before the event loop moves on", async () => {
  const { socket, calls } = recorder();
  coalesceWrites(socket);
  socket.write("publish-1");
  socket.write("ack-1");
  socket.write("publish-2");
  expect(calls).toEqual([]);
  await Promise.resolve();
  expect(calls).toEqual([["publish-1", "ack-1", "publish-2"]]);
});

test("a write in a later turn is not held back for company", async () => {
  const { socket, calls } = recorder();
  coalesceWrites(socket);
  socket.write("a");
  await new Promise((r) => setImmediate(r));
  socket.write("b");
  await new Promise((r) => setImmediate(r));
  expect(calls).toEqual([["a"], ["b"]]);
});
