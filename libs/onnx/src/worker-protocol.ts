import type { OnnxFeeds } from "./columns-feed.js";
import type { OnnxTensorMap } from "./tensor-data.js";
import type { TreeEnsemble, TreeReading } from "./tree-ensemble.js";
import type { TreeShapValues } from "./tree-shap.js";

export interface WorkerConfig {
  cacheSize: number;
  intraOpNumThreads?: number;
  rowsPerRun?: number;
}

export type WorkerRequest =
  | { id: number; kind: "check"; bytes: Uint8Array }
  | { id: number; kind: "run"; key: string; bytes?: Uint8Array; feeds: OnnxFeeds; outputNames?: string[]; pin?: boolean }
  | { id: number; kind: "unpin"; key: string }
  /** Finish the work under way, release every session, and end the thread. */
  | { id: number; kind: "close" }
  | { id: number; kind: "readTrees"; bytes: Uint8Array; input: string; output: string }
  | { id: number; kind: "treeShap"; ensemble: TreeEnsemble; rows: Float64Array; count: number; background: Float64Array; width: number };

/**
 * "miss": a run named a model by key alone and this worker has no session for it;
 * "non_finite": a feed asked to be finite was not; "not_trees": readTrees found no tree ensemble.
 */
export type WorkerFailure = "format" | "run" | "miss" | "non_finite" | "not_trees";

export type WorkerReply =
  | { id: number; ok: true; outputs?: OnnxTensorMap; trees?: TreeReading; shap?: TreeShapValues }
  | { id: number; ok: false; failure: WorkerFailure; message: string; nonFinite?: { column: number; row: number; value: number } };
