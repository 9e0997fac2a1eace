import type { ModelVersionInfo, TensorSignature } from "@kiln/sdk";
import { formatBytes, printFields, printTable, type Output } from "./output.js";

/** `models:show` for people: the version's fields, then metadata, signature, attachments and lineage. */
export function printModelVersion(o: Output, v: ModelVersionInfo): void {
  printFields(o, [
    ["model", v.model],
    ["version", v.version],
    ["tags", v.tags.join(", ")],
    ["format", `${v.format}${v.runnable ? " (runnable)" : ""}`],
    ["file", [v.fileName, formatBytes(v.size), v.mediaType].filter(Boolean).join(", ")],
    ["sha256", v.sha256],
    ["author", v.author],
    ["created", v.createTime],
    ["comment", v.comment],
    ...(v.holders.length ? ([["in use by", v.holders.map(inProject).join(", ")]] as [string, unknown][]) : []),
    ...(v.onnx ? ([["onnx", onnxLine(v)]] as [string, unknown][]) : []),
  ]);
  const metadata = Object.entries(v.metadata);
  if (metadata.length) {
    o.out.write("\nmetadata:\n");
    for (const [k, value] of metadata) o.out.write(`  ${k}: ${JSON.stringify(value)}\n`);
  }
  if (v.signature && (v.signature.inputs.length || v.signature.outputs.length)) {
    o.out.write("\nsignature:\n");
    const rows = [...v.signature.inputs.map((s) => signatureRow("input", s)), ...v.signature.outputs.map((s) => signatureRow("output", s))];
    printTable(o, rows, ["io", "name", "type"]);
  }
  if (v.attachments.length) {
    o.out.write("\nattachments:\n");
    printTable(
      o,
      v.attachments.map((a) => ({ name: a.name, size: formatBytes(a.size), "media type": a.mediaType, sha256: a.sha256 })),
      ["name", "size", "media type", "sha256"],
    );
  }
  const l = v.lineage;
  if (l && (l.sourceDatasets.length || l.trainingJob || l.run || l.parentVersion)) {
    o.out.write("\nlineage:\n");
    const lines: [string, string][] = [
      ["datasets", l.sourceDatasets.map((d) => (d.version ? `${d.name}@${d.version}` : d.name)).join(", ")],
      ["training job", l.trainingJob],
      ["run", l.run],
      ["parent", l.parentVersion],
    ];
    for (const [k, value] of lines) if (value) o.out.write(`  ${k}: ${value}\n`);
  }
}

/** A holder as it reads beside its version, in its project: deployments/churn. */
function inProject(holder: string): string {
  return holder.replace(/^projects\/[^/]+\//, "");
}

function signatureRow(io: string, s: TensorSignature) {
  const shape = s.shape ? `[${s.shape.map((d) => d ?? "?").join(",")}]` : "";
  return { io, name: s.name, type: s.type || `${s.kind}(${s.elementType})${shape}` };
}

function onnxLine(v: ModelVersionInfo): string {
  const onnx = v.onnx!;
  const opsets = onnx.opsets.map((s) => `${s.domain || "ai.onnx"} ${s.version}`).join(", ");
  const producer = [onnx.producerName, onnx.producerVersion].filter(Boolean).join(" ");
  return [`ir ${onnx.irVersion}`, opsets && `opsets ${opsets}`, producer && `by ${producer}`].filter(Boolean).join("; ");
}
