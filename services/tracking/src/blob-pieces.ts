import { createHash } from "node:crypto";
import type { TrackingDeps } from "./deps.js";
import { trackingGarbage } from "./garbage.js";

/** As the SDK stores a file artifact: pieces of 4 MiB, each a blob, the whole file named by its sha256. */
const PIECE_BYTES = 4 * 1024 * 1024;

export interface StoredPieces {
  sha256: string;
  size: number;
  pieces: { sha256: string; size: number }[];
}

/**
 * Bytes stored in pieces of 4 MiB, each as it fills, and marked as garbage, as uploads
 * are, until a record that names them is written (the grace period keeps them till then).
 */
export async function storePieces(deps: Pick<TrackingDeps, "metadata" | "events" | "blobs" | "now">, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<StoredPieces> {
  const garbage = trackingGarbage(deps);
  const whole = createHash("sha256");
  const pieces: { sha256: string; size: number }[] = [];
  let held: Buffer[] = [];
  let heldBytes = 0;
  let size = 0;
  const flush = async () => {
    const piece = Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    const stored = await deps.blobs.put(piece);
    await garbage.mark([stored.sha256]);
    pieces.push({ sha256: stored.sha256, size: piece.length });
  };
  for await (const piece of source) {
    const chunk = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    whole.update(chunk);
    size += chunk.length;
    let rest = chunk;
    while (heldBytes + rest.length >= PIECE_BYTES) {
      const take = PIECE_BYTES - heldBytes;
      held.push(rest.subarray(0, take));
      heldBytes += take;
      rest = rest.subarray(take);
      await flush();
    }
    if (rest.length) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes || !pieces.length) await flush();
  return { sha256: whole.digest("hex"), size, pieces };
}
