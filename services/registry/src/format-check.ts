import { mkdir, readFile } from "node:fs/promises";
import { invalidArgument } from "@kiln/core";
import { TRAINABLE_FORMAT } from "@kiln/contracts";
import { OnnxFormatError, type OnnxSummary, type PendingOnnxCheck } from "@kiln/onnx";

/** Protobuf cannot encode a message over 2 GiB, so no ONNX file (without external data) is larger. */
const ONNX_MAX_BYTES = 2 * 1024 ** 3;

export interface FormatFacts {
  runnable: boolean;
  onnx?: OnnxSummary;
}

/**
 * ONNX files are parsed (header and signature) and loaded in onnxruntime before they are
 * accepted, away from the server's memory; other formats are kept as opaque artifacts
 * Kiln does not run.
 */
export async function checkModelFile(pending: PendingOnnxCheck | undefined, parts: string[] | undefined, workDir: string, size: number): Promise<FormatFacts> {
  if (!pending) return { runnable: false };
  if (size > ONNX_MAX_BYTES) {
    pending.cancel();
    throw invalidArgument("INVALID_ONNX", `a ${size}-byte file cannot be an ONNX model (protobuf caps them at 2 GiB)`);
  }
  try {
    await mkdir(workDir, { recursive: true });
    return { runnable: true, onnx: await pending.check({ parts: parts!, workDir }) };
  } catch (e) {
    if (e instanceof OnnxFormatError) throw invalidArgument("INVALID_ONNX", `not a usable ONNX model: ${e.message}`);
    throw e;
  }
}

/** A kiln-ml document is JSON the runtime reads whole to fit; beyond this it is refused rather than parsed here. */
const TRAINABLE_MAX_BYTES = 512 * 1024 ** 2;

/**
 * A kiln-ml file (an estimator to fit, with or without state) is checked as the runtime
 * will fit it, so a misspelt estimator or param is refused now rather than failing a job
 * later: the reasons are @kiln/ml's (UNKNOWN_ESTIMATOR, UNKNOWN_PARAMETER, UNKNOWN_FORMAT...).
 */
export async function checkTrainableFile(parts: string[], size: number): Promise<FormatFacts> {
  if (size > TRAINABLE_MAX_BYTES) throw invalidArgument("TRAINABLE_TOO_LARGE", `a ${TRAINABLE_FORMAT} file is JSON read whole to fit; at most ${TRAINABLE_MAX_BYTES} bytes, got ${size}`);
  const text = Buffer.concat(await Promise.all(parts.map((p) => readFile(p)))).toString("utf8");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidArgument("INVALID_TRAINABLE", `a ${TRAINABLE_FORMAT} file is a kiln.ml/v1 JSON document: ${(e as Error).message}`);
  }
  // Loaded when used: the estimators cost the registry ~170 ms and ~16 MB to load.
  const { checkTrainable, MLError } = await import("@kiln/ml");
  try {
    checkTrainable(doc);
  } catch (e) {
    if (e instanceof MLError) throw invalidArgument(e.reason, `not a ${TRAINABLE_FORMAT} model the runtime can fit: ${e.message}`);
    throw e;
  }
  return { runnable: false };
}
