import { mkdir } from "node:fs/promises";
import { invalidArgument } from "@kiln/core";
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
