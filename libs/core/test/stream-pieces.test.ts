import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { streamPieces } from "../src/stream-pieces.js";

describe("streamPieces", () => {
  it("yields the pieces as they arrived, not joined, and ends with the stream", async () => {
    const stream = new PassThrough();
    const pieces = [Buffer.from("ab"), Buffer.from("cde"), Buffer.from("f")];
    for (const p of pieces) stream.write(p);
    stream.end();
    const got: Uint8Array[] = [];
    for await (const piece of streamPieces(stream)) got.push(piece);
    expect(got.map((p) => Buffer.from(p).toString())).toEqual(["ab", "cde", "f"]);
  });

  it("pauses the stream while too much waits unread, and resumes it as the reader catches up", async () => {
    let produced = 0;
    const stream = new Readable({
      highWaterMark: 16,
      read() {
        produced += 10;
        this.push(produced <= 1000 ? Buffer.alloc(10, produced % 256) : null);
      },
    });
    let total = 0;
    let maxAhead = 0;
    for await (const piece of streamPieces(stream, 100)) {
      await new Promise((r) => setImmediate(r)); // a slow reader
      total += piece.length;
      maxAhead = Math.max(maxAhead, produced - total);
    }
    expect(total).toBe(1000);
    expect(maxAhead).toBeLessThan(300); // never the whole stream ahead of the reader
  });

  it("ends at once for a stream already read to its end, and fails at once for one already closed (no wait for events gone by)", async () => {
    const read = new PassThrough();
    read.end("body");
    for await (const _ of read);
    expect(read.readableEnded).toBe(true);
    expect(await collect(read)).toBe(0);
    const closed = new PassThrough();
    closed.destroy();
    await new Promise((r) => setImmediate(r));
    await expect(collect(closed)).rejects.toThrow("the stream closed before its end");
  });

  it("fails when the stream errors or closes before its end", async () => {
    const failing = new PassThrough();
    failing.write("x");
    setImmediate(() => failing.destroy(new Error("reset")));
    await expect(collect(failing)).rejects.toThrow("reset");

    const cut = new PassThrough();
    cut.write("x");
    setImmediate(() => cut.destroy());
    await expect(collect(cut)).rejects.toThrow(/closed before its end/);
  });
});

async function collect(stream: Readable): Promise<number> {
  let n = 0;
  for await (const piece of streamPieces(stream)) n += piece.length;
  return n;
}
