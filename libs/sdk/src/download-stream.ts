import { BufferRecycler } from "./buffer-recycler.js";
import { fetchVerified, prefetchInOrder, type ChunkFetcher, type ChunkRefLike } from "./chunk-fetch.js";
import { Code } from "@connectrpc/connect";
import { DataLossError, stream } from "./errors.js";
import type { ProgressListener } from "./transfer.js";

/** Chunks fetched at once on a bulk read (4 MiB each). */
const READ_AHEAD_CHUNKS = 4;

/** One message after a download's header: bytes inline, a reference to fetch, or nothing to read. */
export type DownloadPiece = { bytes: Uint8Array } | { reference: ChunkRefLike } | undefined;

export interface DownloadReader<R, H> {
  header(response: R): H | undefined;
  piece(response: R): DownloadPiece;
  /** The bytes the download carries, when the header says (a filtered read's size is not known up front). */
  totalBytes(header: H): number | undefined;
}

export interface OpenDownload<H> {
  header: H;
  chunks: AsyncGenerator<Uint8Array>;
  /** Ends the call, for a caller that gives up before reading every chunk. */
  cancel(): void;
  /** After the last chunk: whether every chunk came by reference, each checked against its sha256. */
  allVerified(): boolean;
  /**
   * Hands back a chunk the caller is done with (written to disk): a later chunk is fetched
   * into its memory. Fresh memory per chunk, alive while chunks wait their turn, reached
   * V8's old space and cost 6–7 full collections per 100 MB download.
   */
  recycle(chunk: Uint8Array): void;
}

/** Buffers kept for reuse: the chunks fetched ahead plus the one being written. */
const MAX_SPARE_BUFFERS = READ_AHEAD_CHUNKS + 2;

/**
 * Spare buffers for downloads; one set may serve download after download. With `shared`,
 * chunks are fetched into SharedArrayBuffers, which worker threads can read without a copy.
 */
export function downloadBuffers(shared = false): BufferRecycler {
  return new BufferRecycler(MAX_SPARE_BUFFERS, shared ? (bytes) => new Uint8Array(new SharedArrayBuffer(bytes)) : undefined);
}

/**
 * Starts a server stream shaped "header first, then inline chunks or chunk references"
 * (store reads, registry downloads) and splits it into the header and the bytes in order.
 * References are fetched and verified a few at a time, so transfer overlaps the caller's work.
 * Recycled chunks go to `buffers`, fresh for this download unless given.
 */
export async function openDownload<R, H>(
  start: (signal: AbortSignal) => AsyncIterable<R>,
  reader: DownloadReader<R, H>,
  fetcher: ChunkFetcher | undefined,
  onProgress?: ProgressListener,
  buffers = downloadBuffers(),
): Promise<OpenDownload<H>> {
  // Connect's stream iterators ignore return(), so only the signal can end a call early.
  const controller = new AbortController();
  const cancel = () => controller.abort();
  const responses = stream(start(controller.signal));
  const first = await responses.next();
  const header = first.done ? undefined : reader.header(first.value);
  if (header === undefined) {
    cancel();
    throw new Error("the server sent no header");
  }
  const totalBytes = reader.totalBytes(header);
  let inline = false;
  const load = async (response: R): Promise<Uint8Array | undefined> => {
    const piece = reader.piece(response);
    if (!piece) return undefined;
    if ("bytes" in piece) {
      inline = true;
      return piece.bytes;
    }
    if (!fetcher) throw new Error("the server sent a chunk reference, but this client has no URL to fetch it from");
    const into = buffers.take(Number(piece.reference.size));
    const bytes = await fetchVerified(fetcher, piece.reference, into);
    buffers.lend(into && bytes.buffer === into.buffer ? into : bytes); // the whole buffer, when a chunk filled only part of it
    return bytes;
  };
  const chunks = (async function* () {
    let bytes = 0;
    let finished = false;
    try {
      // The first chunk alone: four at once over one connection all arrived together, ~30 ms into a read.
      for await (const data of prefetchInOrder(responses, load, READ_AHEAD_CHUNKS, 1)) {
        if (!data) continue;
        bytes += data.length;
        onProgress?.({ bytes, totalBytes });
        yield data;
      }
      // References prove each chunk, not that none is missing: the sizes must add up too.
      if (!inline && totalBytes !== undefined && bytes !== totalBytes) {
        throw new DataLossError(`the download ended after ${bytes} of ${totalBytes} bytes`, Code.DataLoss, "INCOMPLETE_DOWNLOAD", {});
      }
      finished = true;
    } finally {
      if (!finished) cancel();
    }
  })();
  return {
    header,
    chunks,
    cancel,
    allVerified: () => !inline,
    recycle: (chunk) => buffers.giveBack(chunk),
  };
}
