import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { MLError } from "../errors.js";
import type { Matrix } from "../matrix.js";
import { rowNorms } from "./distances.js";
import { assignRows, centerStateSizes, prepareCenters, type CenterState, type RowState } from "./hamerly.js";

/**
 * Big inputs are assigned in this many parts, each with its own tally of moves, added up
 * in order: the result is the same bit for bit however many threads run the parts.
 * Threads take the next part as they finish one, so a slower thread (a worker still
 * warming up, rows that need more distances) does less of them. Small inputs, which run
 * on the caller's thread alone, are one part (the number of parts depends on the input's
 * size only, never on the machine).
 */
const PARTS = 16;
/** Rows × features × clusters below which starting threads costs more than they save. */
const MIN_THREADED_WORK = 5_000_000;
/** A worker that has not answered in this long has died (a crash cannot be heard while waiting). */
const WORKER_TIMEOUT_MS = 600_000;

export interface RowAssigner {
  labels: Int32Array;
  upper: Float64Array;
  lower: Float64Array;
  /** Every row in cluster 0 with unknown bounds, for a new run from other centres. */
  reset(): void;
  /**
   * Assigns every row to its nearest of these centres; adds the moves to sums and counts.
   * `moved`: how far each centre moved since the last assignment (its bounds still hold
   * once loosened by that), or null when they were set for these centres or reset.
   */
  assign(centers: Float64Array, sums: Float64Array, counts: Float64Array, moved?: Float64Array | null): void;
  close(): void;
}

/** Layout of the memory an assigner shares with its workers. */
export interface SharedLayout {
  data: Float64Array;
  xNorms: Float64Array;
  labels: Int32Array;
  upper: Float64Array;
  lower: Float64Array;
  centers: CenterState;
  /** Per part (16, or 1 for a small input): k × d sums, then k counts. */
  tallies: Float64Array[];
  /** The next part to take (entry 0); then per worker (slots()): go and done iteration numbers (-1 go: stop; -1 done: failed), and ready. */
  control: Int32Array;
  rows: number;
  d: number;
  k: number;
}

export interface WorkerSetup {
  layout: SharedLayout;
  worker: number;
}

/**
 * Hamerly's assignment over the rows, on the caller's thread and, for big inputs, on
 * worker threads too (as scikit-learn's k-means runs on every core). The caller blocks
 * until every part is done, as a call into BLAS would: fit stays synchronous. Make one
 * per fit and reuse it for every run (nInit): copying X into shared memory costs about
 * 100 ms for 30 MB here, fresh pages being slow to fault in.
 */
export function rowAssigner(X: Matrix, k: number): RowAssigner {
  const { rows, cols: d } = X;
  const big = rows * d * k >= MIN_THREADED_WORK;
  const threads = big ? Math.min(4, availableParallelism()) : 1;
  const shared = threads > 1;
  const buffer = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const f64 = (n: number) => new Float64Array(buffer(n * 8));
  const data = shared ? f64(rows * d) : X.data;
  if (shared) data.set(X.data.subarray(0, rows * d));
  const sizes = centerStateSizes(k, d);
  const layout: SharedLayout = {
    data,
    xNorms: f64(rows),
    labels: new Int32Array(buffer(rows * 4)),
    upper: f64(rows).fill(Infinity),
    lower: f64(rows),
    centers: { centers: f64(sizes.centers), halfGap: f64(sizes.halfGap), cNorms: f64(sizes.cNorms), transposed: f64(sizes.transposed), loosen: f64(sizes.loosen) },
    tallies: Array.from({ length: big ? PARTS : 1 }, () => f64(k * d + k)),
    control: new Int32Array(new SharedArrayBuffer(4 * (1 + 3 * threads))),
    rows,
    d,
    k,
  };
  layout.xNorms.set(rowNorms(data, rows, d));
  const workers = Array.from({ length: threads - 1 }, (_, w) => new Worker(workerUrl(), { workerData: { layout, worker: w + 1 } satisfies WorkerSetup }));
  for (const w of workers) {
    w.unref();
    // A worker that fails to start takes no parts and is not waited for (awaitWorker): the caller's thread does its share.
    w.on("error", () => {});
  }
  let iteration = 0;

  return {
    labels: layout.labels,
    upper: layout.upper,
    lower: layout.lower,
    reset() {
      layout.labels.fill(0);
      layout.upper.fill(Infinity);
      layout.lower.fill(0);
    },
    assign(centers, sums, counts, moved = null) {
      prepareCenters(centers, k, d, layout.centers, moved);
      for (const t of layout.tallies) t.fill(0);
      iteration++;
      Atomics.store(layout.control, 0, 0);
      for (let w = 1; w < threads; w++) {
        Atomics.store(layout.control, slots(w).go, iteration);
        Atomics.notify(layout.control, slots(w).go);
      }
      runParts(layout);
      for (let w = 1; w < threads; w++) awaitWorker(layout.control, w, iteration);
      for (const t of layout.tallies) {
        for (let i = 0; i < k * d; i++) sums[i] += t[i];
        for (let c = 0; c < k; c++) counts[c] += t[k * d + c];
      }
    },
    close() {
      for (let w = 1; w < threads; w++) {
        Atomics.store(layout.control, slots(w).go, -1);
        Atomics.notify(layout.control, slots(w).go);
      }
      for (const w of workers) void w.terminate();
    },
  };
}

/** Takes parts of the rows until none is left, each assigned into its own tally. */
export function runParts(layout: SharedLayout): void {
  const { rows, k, d } = layout;
  const parts = layout.tallies.length;
  const state: RowState = { data: layout.data, d, k, xNorms: layout.xNorms, labels: layout.labels, upper: layout.upper, lower: layout.lower };
  for (let p = Atomics.add(layout.control, 0, 1); p < parts; p = Atomics.add(layout.control, 0, 1)) {
    const tally = layout.tallies[p]!;
    assignRows(state, layout.centers, Math.floor((p * rows) / parts), Math.floor(((p + 1) * rows) / parts), tally.subarray(0, k * d), tally.subarray(k * d));
  }
}

/** Where worker w's flags are in the control array. */
export function slots(w: number): { go: number; done: number; ready: number } {
  return { go: 3 * w - 2, done: 3 * w - 1, ready: 3 * w };
}

/**
 * Waits for worker w to finish this iteration's parts. A worker that has not started yet
 * (or failed to load) has taken none — the caller's thread ran out the parts before
 * waiting — so there is nothing to wait for; its own crash while assigning cannot be
 * heard while the thread blocks, hence the timeout.
 */
function awaitWorker(control: Int32Array, w: number, iteration: number): void {
  const { done: at, ready } = slots(w);
  if (Atomics.load(control, ready) !== 1) return;
  for (;;) {
    const done = Atomics.load(control, at);
    if (done === iteration) return;
    if (done === -1) throw new MLError("a k-means worker thread failed", "WORKER_FAILED");
    if (Atomics.wait(control, at, done, WORKER_TIMEOUT_MS) === "timed-out") throw new MLError("a k-means worker thread stopped answering", "WORKER_FAILED");
  }
}

function workerUrl(): URL {
  // Under vitest this module runs from src/*.ts; the worker runs tsc's build in dist/.
  return import.meta.url.endsWith(".ts") ? new URL("../../dist/cluster/assign-worker.js", import.meta.url) : new URL("./assign-worker.js", import.meta.url);
}
