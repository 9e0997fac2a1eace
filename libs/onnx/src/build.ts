import { create, toBinary } from "@bufbuild/protobuf";
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorShapeProto_DimensionSchema,
  ValueInfoProtoSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";
import { attributeProto, type OnnxAttribute } from "./attributes.js";
import { dataTypeOf, type ElementType } from "./element-types.js";
import { tensorProto, type TensorValues } from "./tensor-proto.js";
import type { Dim } from "./value-types.js";

export const ONNX_ML_DOMAIN = "ai.onnx.ml";

export interface OnnxGraphBuilderOptions {
  /** Version of the default "ai.onnx" opset. */
  opset: number;
  producer?: string;
  producerVersion?: string;
  graphName?: string;
  docString?: string;
  metadata?: Record<string, string>;
  /** Versions for other domains, imported only when a node uses them. Default: ai.onnx.ml 3. */
  domainOpsets?: Record<string, number>;
}

/** IR 8 is what opsets 15–18 go with, and every onnxruntime since 1.10 reads it. */
const IR_VERSION = 8n;

/** Builds a single-graph ONNX model; names are checked for clashes, everything else is left to onnxruntime. */
export class OnnxGraphBuilder {
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly names = new Set<string>();
  private readonly domains = new Set<string>();

  constructor(private readonly options: OnnxGraphBuilderOptions) {}

  input(name: string, type: ElementType, shape: Dim[]): this {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, shape));
    return this;
  }

  output(name: string, type: ElementType, shape: Dim[]): this {
    this.outputs.push(valueInfo(name, type, shape));
    return this;
  }

  initializer(name: string, values: TensorValues, dims: number[]): this {
    this.claim(name);
    this.initializers.push(tensorProto(name, values, dims));
    return this;
  }

  node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, OnnxAttribute> = {}, domain = ""): this {
    if (domain) this.domains.add(domain);
    outputs.forEach((o) => this.claim(o));
    this.nodes.push(
      create(NodeProtoSchema, {
        name: `${opType}_${this.nodes.length}`,
        opType,
        domain,
        input: inputs,
        output: outputs,
        attribute: Object.entries(attributes).map(([key, a]) => attributeProto(key, a)),
      }),
    );
    return this;
  }

  toModel(): ModelProto {
    const o = this.options;
    return create(ModelProtoSchema, {
      irVersion: IR_VERSION,
      opsetImport: this.opsetImports(),
      producerName: o.producer ?? "",
      producerVersion: o.producerVersion ?? "",
      docString: o.docString ?? "",
      metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
      graph: create(GraphProtoSchema, {
        name: o.graphName ?? "graph",
        input: this.inputs,
        output: this.outputs,
        initializer: this.initializers,
        node: this.nodes,
      }),
    });
  }

  toBytes(): Uint8Array {
    return toBinary(ModelProtoSchema, this.toModel());
  }

  private opsetImports() {
    const versions: Record<string, number> = { [ONNX_ML_DOMAIN]: 3, ...this.options.domainOpsets };
    const used = [...this.domains].map((domain) => {
      const version = versions[domain];
      if (version === undefined) throw new Error(`no opset version for domain "${domain}": pass it in domainOpsets`);
      return create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) });
    });
    return [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(this.options.opset) }), ...used];
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`"${name}" is already defined in this graph`);
    this.names.add(name);
  }
}

function valueInfo(name: string, type: ElementType, shape: Dim[]): ValueInfoProto {
  const dim = shape.map((d) =>
    create(TensorShapeProto_DimensionSchema, {
      value:
        typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : typeof d === "string" ? { case: "dimParam", value: d } : { case: undefined },
    }),
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: { value: { case: "tensorType", value: { elemType: dataTypeOf(type), shape: { dim } } } },
  });
}
