import { parseFilter } from "@kiln/data";
import { blobGarbage, storedInPages, type BlobGarbage } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { collections, TRACE_SPANS_KIND, type LoggedModelRecord, type StoredArtifact, type TraceRecord } from "./records.js";

const FILE_ARTIFACTS = parseFilter(`event = "artifact"`);

/**
 * The tracking service's blobs: artifact files, referenced by artifact events. Uploads
 * are marked when they arrive (a client that never logs the artifact leaves nothing
 * behind after the grace period), and a dropped experiment's files are marked with it.
 * MLflow's logged models and traces hold files too.
 */
export function trackingGarbage(deps: Pick<TrackingDeps, "metadata" | "events" | "blobs" | "now">): BlobGarbage {
  return blobGarbage({
    metadata: deps.metadata,
    blobs: deps.blobs,
    collection: "tracking_garbage",
    now: deps.now,
    referenced: async () => {
      const into = new Set<string>();
      for await (const e of storedInPages(collections(deps).experiments)) for (const sha256 of await artifactFiles(deps, e.key)) into.add(sha256);
      for (const { value } of await collections(deps).loggedModels.list()) for (const sha256 of loggedModelFiles(value)) into.add(sha256);
      for (const { value } of await collections(deps).traces.list()) for (const sha256 of traceFiles(value)) into.add(sha256);
      return into;
    },
  });
}

/** The blobs of the file artifacts an experiment's runs logged (a file's chunks, when it is in several). */
export async function artifactFiles(deps: Pick<TrackingDeps, "events">, experiment: string): Promise<Set<string>> {
  const files = new Set<string>();
  for await (const page of deps.events.query({ experiment, runs: { all: true }, filter: FILE_ARTIFACTS })) {
    for (const text of page.text) {
      if (!text) continue;
      const ref = JSON.parse(text) as { kind?: string; ref?: string; chunks?: { sha256: string }[] };
      if (ref.kind !== "file") continue;
      if (ref.chunks) for (const c of ref.chunks) files.add(c.sha256);
      else if (ref.ref) files.add(ref.ref);
    }
  }
  return files;
}

/** The blobs of a logged model's files. */
export function loggedModelFiles(m: LoggedModelRecord): string[] {
  return blobsOf(m.files);
}

/** The blobs of a trace's files (its spans). */
export function traceFiles(t: TraceRecord): string[] {
  return blobsOf(t.files);
}

/** The blobs files are stored in: a file's (its chunks, when it is in several), and a spans' document's that outgrew a document. */
export function blobsOf(files: Record<string, StoredArtifact>): string[] {
  return Object.values(files).flatMap((f) => {
    if (f.kind === TRACE_SPANS_KIND) return (f.chunks ?? []).map((c) => c.sha256);
    if (f.kind !== "file") return [];
    return f.chunks?.length ? f.chunks.map((c) => c.sha256) : [f.ref];
  });
}
