import { mergeIpcChunks } from "@kiln/data";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import type { StoreDeps } from "./deps.js";
import type { ChunkRef } from "./records.js";

/** Chunks smaller than this are merged with their neighbours when a version is committed. */
export const SMALL_CHUNK_BYTES = 1024 * 1024;
const NEWLINE = Buffer.from("\n");

export interface CompactedChunks {
  chunks: ChunkRef[];
  /** Blobs the merges stored: garbage if the version is not committed. */
  written: string[];
}

/**
 * A version's chunks: `kept` (the previous version's, when appending) then `added`, the
 * small ones at the end merged as a binary counter carries: each added chunk goes on the
 * end, then the run mergedRun counts becomes one. Appends of a few rows at a time so leave
 * a version a few small chunks (about log2 of the appends) rather than one per append,
 * whose lists (one per version) grew with the square of the appends and whose reads paid
 * for every chunk. Earlier versions keep their chunks; files are never merged.
 */
export async function compactChunks(deps: Pick<StoreDeps, "blobs">, kind: DatasetKind, kept: readonly ChunkRef[], added: readonly ChunkRef[]): Promise<CompactedChunks> {
  const chunks = [...kept];
  const written: string[] = [];
  if (kind === DatasetKind.FILE) return { chunks: [...kept, ...added], written };
  for (const chunk of added) {
    chunks.push(chunk);
    const run = mergedRun(chunks);
    if (run < 2) continue;
    const merged = await mergeChunks(deps, kind, chunks.slice(-run));
    written.push(merged.sha256);
    chunks.splice(chunks.length - run, run, merged);
  }
  return { chunks, written };
}

/**
 * How many chunks at the end merge into one: the last two do while both are small and the
 * one before holds no more rows than the last, and together they go on as the last (rows
 * add up exactly; bytes a little over, each chunk repeating the schema). Counted first and
 * merged once, so a long run of small chunks (a version from before merging) is read and
 * written once, not once a chunk.
 */
function mergedRun(chunks: readonly ChunkRef[]): number {
  const last = chunks[chunks.length - 1]!;
  let { size, rows } = last;
  let run = 1;
  for (; run < chunks.length; run++) {
    const before = chunks[chunks.length - 1 - run]!;
    if (before.size >= SMALL_CHUNK_BYTES || size >= SMALL_CHUNK_BYTES || before.rows > rows) break;
    size += before.size;
    rows += before.rows;
  }
  return run;
}

async function mergeChunks(deps: Pick<StoreDeps, "blobs">, kind: DatasetKind, run: ChunkRef[]): Promise<ChunkRef> {
  const parts: Uint8Array[] = [];
  for (const chunk of run) parts.push(await deps.blobs.getBytes(chunk.sha256));
  const bytes = mergedBytes(kind, parts);
  const blob = await deps.blobs.put(bytes);
  return { sha256: blob.sha256, size: bytes.length, rows: run.reduce((n, c) => n + c.rows, 0) };
}

function mergedBytes(kind: DatasetKind, parts: Uint8Array[]): Uint8Array {
  switch (kind) {
    case DatasetKind.TABLE:
      return mergeIpcChunks(parts);
    // A chunk of documents is compact JSON a line each, as reads send them: chunks merge as their lines.
    case DatasetKind.DOCUMENT:
      return Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [part] : [NEWLINE, part])));
    // A tensor chunk is whole rows of one dtype and shape: chunks merge as their bytes end to end.
    default:
      return Buffer.concat(parts);
  }
}
