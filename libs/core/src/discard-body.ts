import type { Readable } from "node:stream";
import { streamPieces } from "./stream-pieces.js";

/** A body this long is read to its end before a refusal; a longer one is cut off (the stream reset) after the answer. */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Reads a request's body to its end and drops it, so that a refusal is answered only once
 * the body is through: an answer before it leaves the rest of the body arriving on a closed
 * stream, which a proxy in between (Caddy) turns into stalled uploads and, after enough of
 * them, a connection the server ends with ENHANCE_YOUR_CALM. False when the body went past
 * `limit` (stop reading; end the stream after answering).
 */
export async function discardBody(req: Readable, limit = DISCARD_LIMIT_BYTES): Promise<boolean> {
  let seen = 0;
  try {
    for await (const piece of streamPieces(req)) {
      seen += piece.length;
      if (seen > limit) return false;
    }
    return true;
  } catch {
    return false; // the client reset the stream: no one hears the answer
  }
}

/** Answers once the body is read (see discardBody); a body past the limit is cut off after the answer. */
export function answerAfterBody(req: Readable & { destroy(): unknown }, answer: () => void): void {
  void discardBody(req).then((whole) => {
    answer();
    if (!whole) req.destroy();
  });
}
