import { fromBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type ModelProto } from "onnx-buf";
import { OnnxFormatError, trimMessage } from "./errors.js";
import { describeValue, type OnnxValueInfo } from "./value-types.js";

export interface OnnxOpset {
  /** "ai.onnx" for the default domain (stored as ""). */
  domain: string;
  version: number;
}

export interface OnnxSummary {
  irVersion: number;
  opsets: OnnxOpset[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  metadata: Record<string, string>;
  /** Graph inputs the caller must feed: inputs that are also initializers (weights) are left out. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** Reads an ONNX model's header and signature; throws OnnxFormatError for anything that is not one. */
export function inspectOnnx(bytes: Uint8Array): OnnxSummary {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const weights = new Set(graph.initializer.map((t) => t.name));
  return {
    irVersion: Number(model.irVersion),
    opsets: model.opsetImport.map((o) => ({ domain: o.domain || "ai.onnx", version: Number(o.version) })),
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: Number(model.modelVersion),
    docString: model.docString,
    metadata: Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value])),
    inputs: graph.input.filter((v) => !weights.has(v.name)).map((v) => describeValue(v.name, v.type)),
    outputs: graph.output.map((v) => describeValue(v.name, v.type)),
  };
}

// Protobuf has no magic number and decodes many byte strings without complaint,
// so the fields every real model has are what tells an ONNX file from garbage.
function decodeModel(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (err) {
    throw new OnnxFormatError(`not an ONNX model: protobuf decoding failed (${trimMessage(String((err as Error).message ?? err), 200)})`);
  }
  if (model.irVersion <= 0n) throw new OnnxFormatError("not an ONNX model: ir_version is missing");
  if (!model.graph) throw new OnnxFormatError("not an ONNX model: it has no graph");
  if (model.opsetImport.length === 0) throw new OnnxFormatError("not an ONNX model: opset_import is empty");
  if (model.graph.output.length === 0) throw new OnnxFormatError("not an ONNX model: the graph has no outputs");
  return model;
}
