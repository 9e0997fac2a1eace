import type { OnnxFeeds } from "./columns-feed.js";
import type { OnnxTensorMap } from "./tensor-data.js";

export interface WorkerConfig {
  cacheSize: number;
  intraOpNumThreads?: number;
  rowsPerRun?: number;
}

export type WorkerRequest =
  | { id: number; kind: "check"; bytes: Uint8Array }
  | { id: number; kind: "run"; key: string; bytes?: Uint8Array; feeds: OnnxFeeds; outputNames?: string[]; pin?: boolean }
  | { id: number; kind: "unpin"; key: string };

/** "miss": a run named a model by key alone and this worker has no session for it; "non_finite": a feed asked to be finite was not. */
export type WorkerFailure = "format" | "run" | "miss" | "non_finite";

export type WorkerReply =
  | { id: number; ok: true; outputs?: OnnxTensorMap }
  | { id: number; ok: false; failure: WorkerFailure; message: string; nonFinite?: { column: number; row: number; value: number } };
