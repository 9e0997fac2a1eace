import type { JsonObject } from "@bufbuild/protobuf";
import { PREDICTS, TAKES_MISSING_VALUES, TRAINABLE_ATTACHMENT } from "@kiln/contracts";
import { Code } from "@connectrpc/connect";
import { InvalidArgumentError } from "./errors.js";
import type { PutModelOptions } from "./models.js";


/** What `kiln.models.put` needs of a local estimator (any @kiln/ml estimator or pipeline). */
export interface TrainedEstimator {
  readonly kind: string;
  readonly fitted: boolean;
  /** Whether it takes NaN as missing (an imputer first); recorded so the runtime refuses missing values for the others. */
  readonly takesMissingValues?: boolean;
  /** Whether it predicts (a transformer only transforms); recorded so the runtime refuses to predict with a transformer. */
  readonly predicts?: boolean;
  /** A classifier's classes, recorded so the runtime names probability columns by class and checks labels it scores against. */
  readonly classes?: readonly (number | string)[];
  getParams(): Record<string, unknown>;
  toJSON(): unknown;
  toOnnx(): Uint8Array;
}

export function isEstimator(v: unknown): v is TrainedEstimator {
  const e = v as Partial<TrainedEstimator>;
  return typeof v === "object" && v !== null && typeof e.toOnnx === "function" && typeof e.toJSON === "function" && typeof e.kind === "string";
}

/**
 * A local estimator goes up as its ONNX export (runnable) with its kiln.ml state
 * attached, so the runtime can fit it again or continue it (partial fit).
 */
export function estimatorPutOptions(e: TrainedEstimator, options: PutModelOptions): PutModelOptions {
  const attachments = Array.isArray(options.attachments) ? Object.fromEntries(options.attachments.map((p) => [p.slice(p.lastIndexOf("/") + 1), p])) : { ...options.attachments };
  return {
    ...options,
    format: "onnx",
    fileName: options.fileName ?? `${e.kind}.onnx`,
    metadata: {
      estimator: e.kind,
      params: e.getParams() as JsonObject,
      ...(e.takesMissingValues === undefined ? {} : { [TAKES_MISSING_VALUES]: e.takesMissingValues }),
      ...(e.predicts === undefined ? {} : { [PREDICTS]: e.predicts }),
      ...(e.classes?.length ? { classes: [...e.classes] } : {}),
      ...options.metadata,
    },
    attachments: { ...attachments, [TRAINABLE_ATTACHMENT]: new TextEncoder().encode(JSON.stringify(e.toJSON())) },
  };
}

/** What `kiln.models.create` takes as a definition besides a kind by name: a composite (a Pipeline, a Graph), fitted or not. */
export interface UntrainedEstimator {
  readonly kind: string;
  getParams(): Record<string, unknown>;
  toJSON(): unknown;
}

/**
 * An untrained model's kiln.ml/v1 document: a kind with params (no state), or a composite's
 * own document (its shape and its layers' params), which carries its params itself.
 */
export function untrainedSpec(estimator: string | UntrainedEstimator, params: Record<string, unknown> | undefined): { kind: string; params: Record<string, unknown>; spec: Uint8Array } {
  const encode = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc));
  if (typeof estimator === "string") return { kind: estimator, params: params ?? {}, spec: encode({ format: "kiln.ml/v1", kind: estimator, params: params ?? {}, state: null }) };
  if (params !== undefined) {
    throw new InvalidArgumentError(`params go with an estimator named by kind; ${estimator.kind} carries its own (set them on it: setParams)`, Code.InvalidArgument, "PARAMS_WITH_ESTIMATOR", {});
  }
  return { kind: estimator.kind, params: estimator.getParams(), spec: encode(estimator.toJSON()) };
}
