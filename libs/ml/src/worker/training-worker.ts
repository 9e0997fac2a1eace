// Worker thread entry: fits estimators away from the caller's event loop.
import { parentPort } from "node:worker_threads";
// The package index, not single modules: importing every estimator registers its kind.
import { MLError, createEstimator, loadModel, type Estimator, type Incremental } from "../index.js";
import type { TrainingReply, TrainingRequest } from "./protocol.js";

const port = parentPort!;

port.on("message", (request: TrainingRequest) => {
  const post = (reply: TrainingReply) => port.postMessage(reply);
  const onEpoch = (p: { epoch: number; loss?: number; metrics?: Record<string, number> }) => post({ id: request.id, type: "progress", ...p });
  try {
    let estimator: Estimator;
    if (request.op !== "partialFit") {
      // A refit loads a fitted model only for its shape (a Pipeline's steps): fit() starts over, as sklearn's does.
      estimator = request.op === "fit" ? createEstimator(request.kind, request.params, onEpoch) : loadModel(request.model).setParams(request.params);
      (estimator as unknown as { fit(X: unknown, y?: unknown): unknown }).fit(request.X, request.y);
    } else {
      // An untrained definition (state null, from kiln.models.create) starts from its params.
      estimator = request.model.state == null ? createEstimator(request.model.kind, request.model.params, onEpoch) : loadModel(request.model);
      const incremental = estimator as unknown as Partial<Incremental>;
      if (typeof incremental.partialFit !== "function") throw new MLError(`${estimator.kind} cannot learn from batches (no partialFit)`, "NO_PARTIAL_FIT");
      incremental.partialFit(request.X, request.y, request.classes ? { classes: request.classes } : undefined);
    }
    post({ id: request.id, type: "done", model: estimator.toJSON() });
  } catch (e) {
    const err = e as Error & { reason?: string };
    post({ id: request.id, type: "error", name: err.name ?? "Error", reason: err.reason, message: err.message ?? String(e) });
  }
});
