import { readFile } from "node:fs/promises";
import { invalidArgument } from "@kiln/core";
import { OnnxFormatError, inspectOnnx, type OnnxSummary } from "@kiln/onnx";
import type { RegistryDeps } from "./deps.js";

/** Protobuf cannot encode a message over 2 GiB, so no ONNX file (without external data) is larger. */
const ONNX_MAX_BYTES = 2 * 1024 ** 3;

export interface FormatFacts {
  runnable: boolean;
  onnx?: OnnxSummary;
}

/**
 * ONNX files are parsed (header and signature) and loaded in onnxruntime before they are
 * accepted; other formats are kept as opaque artifacts Kiln does not run.
 */
export async function checkModelFile(deps: Pick<RegistryDeps, "checkOnnx">, format: string, spoolPath: string | undefined, size: number): Promise<FormatFacts> {
  if (format !== "onnx") return { runnable: false };
  if (size > ONNX_MAX_BYTES) throw invalidArgument("INVALID_ONNX", `a ${size}-byte file cannot be an ONNX model (protobuf caps them at 2 GiB)`);
  try {
    const onnx = inspectOnnx(await readFile(spoolPath!));
    await deps.checkOnnx(spoolPath!);
    return { runnable: true, onnx };
  } catch (e) {
    if (e instanceof OnnxFormatError) throw invalidArgument("INVALID_ONNX", `not a usable ONNX model: ${e.message}`);
    throw e;
  }
}
