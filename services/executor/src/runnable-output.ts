import { zipMapSource } from "@kiln/onnx";
import type { ModelVersionInfo, TensorSignature } from "@kiln/sdk";
import type { ExecutorDeps } from "./deps.js";
import { failedPrecondition } from "./job-failure.js";

/** What a job runs to get one of a model's outputs. */
export interface RunnableOutput {
  /** The model's bytes, and their key in the worker pool. */
  file: Uint8Array;
  key: string;
  /** The graph output to fetch, a tensor. */
  output: string;
  signature?: TensorSignature;
  /** Class labels naming probability columns, when known. */
  classes?: (string | number)[];
}

/**
 * A model's output as onnxruntime can return it. A classifier exported by sklearn-onnx or
 * onnxmltools with their default ZipMap gives probabilities as a sequence of maps, which
 * onnxruntime-node cannot return: the ZipMap's input, the same probabilities as a tensor,
 * is fetched instead (from the model with it added to the graph's outputs), its columns
 * named by ZipMap's class labels unless the version records its classes.
 */
export async function runnableOutput(deps: ExecutorDeps, version: ModelVersionInfo, output: string): Promise<RunnableOutput> {
  const file = await deps.models.file(version);
  const recorded = Array.isArray(version.metadata.classes) ? (version.metadata.classes as (string | number)[]) : undefined;
  const signature = version.signature?.outputs.find((o) => o.name === output);
  if (!signature || signature.kind === "tensor") return { file, key: version.sha256, output, signature, classes: recorded };
  const zipped = zipMapSource(file, output);
  if (!zipped) {
    throw failedPrecondition("NOT_A_TENSOR_OUTPUT", `the model's output "${output}" is ${signature.type}, which onnxruntime cannot return: export the model with tensor outputs`);
  }
  const exposed = await deps.models.withFloatOutput(version, zipped.tensor);
  const classes = recorded ?? (zipped.classes.length ? zipped.classes : undefined);
  const shape = ["N", classes?.length ?? null];
  return {
    file: exposed.bytes,
    key: exposed.key,
    output: zipped.tensor,
    signature: { name: zipped.tensor, kind: "tensor", elementType: "float32", shape, type: `tensor(float32)[N,${classes?.length ?? "?"}]` },
    classes,
  };
}
