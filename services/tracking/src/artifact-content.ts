import type { TrackingDeps } from "./deps.js";
import { textOf } from "./mlflow-artifact-tree.js";
import { collections, TRACE_SPANS_KIND, type SpansDoc, type StoredArtifact } from "./records.js";

/** What an artifact reads as: a file's bytes, or the JSON of a value or of a reference to a model or dataset. */
export function artifactContent(deps: TrackingDeps, artifact: StoredArtifact): { size: number; mediaType: string; bytes(): AsyncIterable<Uint8Array> } {
  if (artifact.kind === TRACE_SPANS_KIND) {
    return {
      size: artifact.size,
      mediaType: "application/json",
      async *bytes() {
        // The document as it is now: it may have grown, or moved to blobs, since the artifact was noted.
        const doc = await collections(deps).traceSpans.get(artifact.ref);
        if (doc) yield* spansDocBytes(deps, doc.value);
      },
    };
  }
  if (artifact.kind !== "file") {
    const text = textOf(artifact);
    return { size: text.length, mediaType: "application/json", bytes: async function* () { yield text; } };
  }
  const pieces = artifact.chunks?.length ? artifact.chunks.map((c) => c.sha256) : [artifact.ref];
  return {
    size: artifact.size,
    mediaType: artifact.mediaType || "application/octet-stream",
    async *bytes() {
      for (const sha256 of pieces) yield* deps.blobs.get(sha256);
    },
  };
}

/** A spans' document's bytes: its text, or the blobs it names. */
export async function* spansDocBytes(deps: Pick<TrackingDeps, "blobs">, doc: SpansDoc): AsyncIterable<Uint8Array> {
  if (!doc.pieces) yield Buffer.from(doc.text, "utf8");
  else for (const piece of doc.pieces) yield* deps.blobs.get(piece.sha256);
}
