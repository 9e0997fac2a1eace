import { Code } from "@connectrpc/connect";
import { InvalidArgumentError } from "./errors.js";

const formatsByExtension: Record<string, string> = {
  onnx: "onnx",
  pkl: "sklearn-pickle",
  pickle: "sklearn-pickle",
  joblib: "sklearn-pickle",
  pt: "pytorch",
  pth: "pytorch",
};

const extensionsByFormat: Record<string, string> = { onnx: "onnx", "sklearn-pickle": "pkl", pytorch: "pt" };

/**
 * The format a model file's name implies; "onnx" for bytes with no name. A name whose
 * extension says nothing is refused rather than guessed, so a .h5 is never sent as ONNX.
 */
export function guessFormat(fileName: string | undefined): string {
  if (!fileName) return "onnx";
  const format = formatsByExtension[extensionOf(fileName)];
  if (!format) {
    throw new InvalidArgumentError(`cannot tell the format of "${fileName}" from its name: pass a format (e.g. "onnx", "sklearn-pickle")`, Code.InvalidArgument, "UNKNOWN_FORMAT", {
      fileName,
    });
  }
  return format;
}

/** The file name for a version stored without one: "churn-v3.onnx". */
export function defaultFileName(model: string, version: number, format: string): string {
  return `${model}-v${version}.${extensionsByFormat[format] ?? "bin"}`;
}

export function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
}

function extensionOf(fileName: string): string {
  const dot = fileName.lastIndexOf(".");
  return dot < 0 ? "" : fileName.slice(dot + 1).toLowerCase();
}

const mediaTypesByExtension: Record<string, string> = {
  txt: "text/plain",
  md: "text/markdown",
  csv: "text/csv",
  json: "application/json",
  html: "text/html",
  pdf: "application/pdf",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  svg: "image/svg+xml",
  onnx: "application/onnx",
};

/** A media type for a file name, or "" to let the server pick its default. */
export function mediaTypeOf(fileName: string): string {
  return mediaTypesByExtension[extensionOf(fileName)] ?? "";
}
