import { mergeIpcChunks } from "@kiln/data";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import type { StoreDeps } from "./deps.js";
import type { ChunkRef } from "./records.js";

/** Chunks smaller than this are merged with their neighbours when a version is committed. */
export const SMALL_CHUNK_BYTES = 1024 * 1024;

export interface CompactedChunks {
  chunks: ChunkRef[];
  /** Blobs the merges stored: garbage if the version is not committed. */
  written: string[];
}

/**
 * A version's chunks: `kept` (the previous version's, when appending) then `added`, the
 * small ones at the end merged as a binary counter carries. Each added chunk goes on the
 * end; then, while the last two are both small and the one before is no larger than the
 * last, they become one. Appends of a few rows at a time so leave a version with a few
 * small chunks (about log2 of the appends) rather than one per append, whose lists (one
 * per version) grew with the square of the appends and whose reads paid for every chunk.
 * Earlier versions keep their chunks; files are never merged.
 */
export async function compactChunks(deps: Pick<StoreDeps, "blobs">, kind: DatasetKind, kept: readonly ChunkRef[], added: readonly ChunkRef[]): Promise<CompactedChunks> {
  const chunks = [...kept];
  const written: string[] = [];
  if (kind === DatasetKind.FILE) return { chunks: [...kept, ...added], written };
  for (const chunk of added) {
    chunks.push(chunk);
    for (;;) {
      const last = chunks[chunks.length - 1]!;
      const before = chunks[chunks.length - 2];
      if (!before || before.size >= SMALL_CHUNK_BYTES || last.size >= SMALL_CHUNK_BYTES || before.size > last.size) break;
      const merged = await mergeChunks(deps, kind, before, last);
      written.push(merged.sha256);
      chunks.splice(chunks.length - 2, 2, merged);
    }
  }
  return { chunks, written };
}

async function mergeChunks(deps: Pick<StoreDeps, "blobs">, kind: DatasetKind, first: ChunkRef, second: ChunkRef): Promise<ChunkRef> {
  const parts = [await deps.blobs.getBytes(first.sha256), await deps.blobs.getBytes(second.sha256)];
  const bytes = mergedBytes(kind, parts);
  const blob = await deps.blobs.put(bytes);
  return { sha256: blob.sha256, size: bytes.length, rows: first.rows + second.rows };
}

function mergedBytes(kind: DatasetKind, parts: Uint8Array[]): Uint8Array {
  switch (kind) {
    case DatasetKind.TABLE:
      return mergeIpcChunks(parts);
    // A chunk of documents is compact JSON a line each, as reads send them: two chunks are their lines together.
    case DatasetKind.DOCUMENT:
      return Buffer.concat([parts[0]!, Buffer.from("\n"), parts[1]!]);
    // A tensor chunk is whole rows of one dtype and shape: two chunks are their bytes end to end.
    default:
      return Buffer.concat(parts);
  }
}
