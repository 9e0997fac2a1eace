import { aborted, invalidArgument } from "./errors.js";

/** A write stream's message as the guard sees it: a piece, or the commit that ends it. */
export type WriteStreamMessage = { case: "commit"; value: { pieces: bigint } } | { case: string | undefined };

/**
 * The messages of a write stream after its header, without the commit. When the header
 * asked for one (`endsWithCommit`), the stream must end right after a commit counting the
 * messages before it; a stream that ends without it was cut short by its client (an HTTP/2
 * client may send an error or a cancel on its side as a normal end of the stream), so
 * nothing may be stored: Aborted WRITE_NOT_COMMITTED. A commit is checked when sent anyway.
 */
export async function* untilCommit<M extends { message: WriteStreamMessage }>(
  rest: AsyncIterator<M>,
  endsWithCommit: boolean,
  what: string,
): AsyncGenerator<M> {
  let pieces = 0n;
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    const m = next.value.message;
    if (m.case !== "commit") {
      pieces++;
      yield next.value;
      continue;
    }
    const counted = (m as { value: { pieces: bigint } }).value.pieces;
    if (counted !== pieces) throw invalidArgument("COMMIT_MISMATCH", `the commit of ${what} counts ${counted} pieces, the stream carried ${pieces}: nothing was stored`);
    if (!(await rest.next()).done) throw invalidArgument("MESSAGE_AFTER_COMMIT", `the commit is the last message of ${what}: nothing was stored`);
    return;
  }
  if (endsWithCommit) throw aborted("WRITE_NOT_COMMITTED", `${what} ended before its commit message (the client stopped: an error or a cancel on its side): nothing was stored`);
}
