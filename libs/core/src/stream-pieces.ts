import type { Readable } from "node:stream";

/**
 * A readable's data as the pieces it arrives in (HTTP/2 frames, for a request body).
 * A readable's own async iterator calls read(), which joins whatever is buffered into one
 * new buffer: a copy of every byte into fresh memory, costly here. This one takes 'data'
 * events as they are, pausing the stream while `highWaterBytes` wait unread.
 */
export async function* streamPieces(stream: Readable, highWaterBytes = 4 * 1024 * 1024): AsyncGenerator<Uint8Array> {
  // A stream already read to its end, or already closed, emits nothing more: waiting for
  // its 'end' or 'close' would wait forever (a refusal after a body was read, for one).
  if (stream.readableEnded) return;
  if (stream.destroyed) throw new Error("the stream closed before its end");
  const queue: Uint8Array[] = [];
  let queued = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const signal = () => {
    wake?.();
    wake = undefined;
  };
  const onData = (piece: Uint8Array) => {
    queue.push(piece);
    queued += piece.length;
    if (queued >= highWaterBytes) stream.pause();
    signal();
  };
  const onEnd = () => {
    ended = true;
    signal();
  };
  const onError = (e: unknown) => {
    failure = e;
    signal();
  };
  // A stream destroyed before its end (e.g. the client reset it) closes without 'end'.
  const onClose = () => {
    if (!ended) failure ??= new Error("the stream closed before its end");
    signal();
  };
  stream.on("data", onData);
  stream.once("end", onEnd);
  stream.once("error", onError);
  stream.once("close", onClose);
  try {
    for (;;) {
      const piece = queue.shift();
      if (piece) {
        queued -= piece.length;
        if (stream.isPaused() && queued < highWaterBytes / 2) stream.resume();
        yield piece;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off("data", onData);
    stream.off("end", onEnd);
    stream.off("error", onError);
    stream.off("close", onClose);
  }
}
